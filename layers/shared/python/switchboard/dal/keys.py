"""Key parts shared by every table: the account partition that scopes a tenant's items."""

ACCOUNT_PREFIX = "ACCT#"


def account_pk(account_id: str) -> str:
    """Every item of an account lives under this partition key, in every table."""
    return f"{ACCOUNT_PREFIX}{account_id}"


def account_of(pk: str) -> str:
    """The account id of an account partition key (the inverse of `account_pk`)."""
    if not pk.startswith(ACCOUNT_PREFIX):
        raise ValueError("not an account partition key")
    return pk.removeprefix(ACCOUNT_PREFIX)
