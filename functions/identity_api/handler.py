"""Identity routes: signup, verification, login, sessions, /me, TOTP and password reset."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import api
from switchboard.models.api_keys import ApiKeyCreated, ApiKeyIn, ApiKeyList, RotateIn
from switchboard.models.identity import (
    AcceptedOut,
    LoginIn,
    MeOut,
    PasswordChangeIn,
    ReauthIn,
    ReauthOut,
    RecoveryCodesOut,
    ResetConfirmIn,
    ResetRequestIn,
    SessionList,
    SessionOut,
    SignupIn,
    TokenIn,
    TotpCodeIn,
    TotpDisableIn,
    TotpEnrolOut,
)
from switchboard.observability import logger, metrics, tracer

app = api.build_resolver()


@app.post(
    "/v1/signup",
    summary="Create an account and its owner",
    tags=["identity"],
    responses=api.answers(202, AcceptedOut, "Accepted: a verification e-mail goes out if the address is new"),
)
def signup(body: Annotated[SignupIn, Body()]) -> Response[str]:
    """202 whether or not the e-mail is registered (R8)."""
    from switchboard.logic import users  # noqa: PLC0415 - PynamoDB and botocore load with the first request, not the cold import

    users.signup(body, api.request_meta(app))
    return api.json_response(202, AcceptedOut(status="verification_sent"))


@app.post(
    "/v1/email-verifications",
    summary="Confirm an e-mail address",
    tags=["identity"],
    responses=api.answers(200, AcceptedOut, "The address is verified"),
)
def verify_email(body: Annotated[TokenIn, Body()]) -> Response[str]:
    """The e-mailed single-use token."""
    from switchboard.logic import users  # noqa: PLC0415

    users.verify_email(body.token, api.request_meta(app))
    return api.json_response(200, AcceptedOut(status="verified"))


@app.post(
    "/v1/password-resets",
    summary="E-mail a password reset link",
    tags=["identity"],
    responses=api.answers(202, AcceptedOut, "Accepted: a reset link goes out if the address is known"),
)
def request_reset(body: Annotated[ResetRequestIn, Body()]) -> Response[str]:
    """202 for known and unknown e-mails alike (R6)."""
    from switchboard.logic import users  # noqa: PLC0415

    users.request_reset(body.email, api.request_meta(app))
    return api.json_response(202, AcceptedOut(status="reset_requested"))


@app.post(
    "/v1/password-resets/confirm",
    summary="Set a new password with a reset token",
    tags=["identity"],
    responses=api.answers(204, None, "The password is set; every session ended"),
)
def confirm_reset(body: Annotated[ResetConfirmIn, Body()]) -> Response[str]:
    """Every session ends; two-factor authentication stays on."""
    from switchboard.logic import users  # noqa: PLC0415

    users.confirm_reset(body, api.request_meta(app))
    return api.no_content()


@app.post(
    "/v1/sessions",
    summary="Log in",
    tags=["identity"],
    responses=api.answers(201, SessionOut, "Logged in: the token appears in this answer only", problems=(401,)),
)
def login(body: Annotated[LoginIn, Body()]) -> Response[str]:
    """201 with a new session token."""
    from switchboard.logic import sessions  # noqa: PLC0415

    out: SessionOut = sessions.login(body, api.request_meta(app))
    return api.json_response(201, out)


@app.delete(
    "/v1/sessions/current",
    summary="Log out",
    tags=["sessions"],
    responses=api.answers(204, None, "Logged out"),
)
def logout() -> Response[str]:
    """This token is dead at once."""
    from switchboard.logic import sessions  # noqa: PLC0415

    principal, meta = api.caller(app)
    sessions.end(principal, principal.session_id, meta)
    return api.no_content()


@app.post(
    "/v1/sessions/current/reauth",
    summary="Re-authenticate this session",
    tags=["sessions"],
    responses=api.answers(200, ReauthOut, "Re-authenticated"),
)
def reauth(body: Annotated[ReauthIn, Body()]) -> Response[str]:
    """200, same token; sensitive actions work for 5 minutes."""
    from switchboard.logic import sessions  # noqa: PLC0415

    principal, meta = api.caller(app)
    out: ReauthOut = sessions.reauth(principal, body, meta)
    return api.json_response(200, out)


@app.get(
    "/v1/sessions",
    summary="List my sessions",
    tags=["sessions"],
    responses=api.answers(200, SessionList, "My sessions"),
)
def list_sessions(
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: api.NextCursor = None,
) -> Response[str]:
    """Newest first, paged: created, last seen, IP and user agent of each."""
    from switchboard.logic import sessions  # noqa: PLC0415

    principal, _ = api.caller(app)
    out: SessionList = sessions.list_sessions(principal, limit, cursor)
    return api.json_response(200, out)


@app.delete(
    "/v1/sessions/<session_id>",
    summary="End one of my sessions",
    tags=["sessions"],
    responses=api.answers(204, None, "The session ended", problems=(404,)),
)
def end_session(session_id: str) -> Response[str]:
    """404 for a session that is not the caller's."""
    from switchboard.logic import sessions  # noqa: PLC0415

    principal, meta = api.caller(app)
    sessions.end(principal, session_id, meta)
    return api.no_content()


@app.delete(
    "/v1/sessions",
    summary="End all my sessions",
    tags=["sessions"],
    responses=api.answers(204, None, "Every session ended"),
)
def end_all_sessions() -> Response[str]:
    """Every session of the caller ends, this one included."""
    from switchboard.logic import sessions  # noqa: PLC0415

    principal, meta = api.caller(app)
    sessions.end_all(principal.account_id, principal.principal, reason="logout_all", meta=meta)
    return api.no_content()


@app.get(
    "/v1/me",
    summary="Who am I",
    tags=["me"],
    responses=api.answers(200, MeOut, "The caller"),
)
def get_me() -> Response[str]:
    """The caller's user."""
    from switchboard.logic import users  # noqa: PLC0415

    principal, _ = api.caller(app)
    out: MeOut = users.me(principal)
    return api.json_response(200, out)


@app.post(
    "/v1/me/password",
    summary="Change my password",
    tags=["me"],
    responses=api.answers(204, None, "Changed; the other sessions ended"),
)
def change_password(body: Annotated[PasswordChangeIn, Body()]) -> Response[str]:
    """Other sessions end."""
    from switchboard.logic import users  # noqa: PLC0415

    principal, meta = api.caller(app)
    users.change_password(principal, body, meta)
    return api.no_content()


@app.post(
    "/v1/me/mfa/totp",
    summary="Start TOTP enrolment",
    tags=["me"],
    responses=api.answers(
        201, TotpEnrolOut, "Enrolment started: the seed appears in this answer only", problems=(409,)
    ),
)
def enrol_totp() -> Response[str]:
    """201 with the seed (not active yet)."""
    from switchboard.logic import mfa  # noqa: PLC0415

    principal, meta = api.caller(app)
    out: TotpEnrolOut = mfa.enrol(principal, meta)
    return api.json_response(201, out)


@app.post(
    "/v1/me/mfa/totp/activate",
    summary="Turn TOTP on",
    tags=["me"],
    responses=api.answers(200, RecoveryCodesOut, "TOTP is on: ten recovery codes, shown once", problems=(409,)),
)
def activate_totp(body: Annotated[TotpCodeIn, Body()]) -> Response[str]:
    """200 with ten recovery codes, shown once."""
    from switchboard.logic import mfa  # noqa: PLC0415

    principal, meta = api.caller(app)
    out: RecoveryCodesOut = mfa.activate(principal, body.code, meta)
    return api.json_response(200, out)


@app.post(
    "/v1/me/mfa/recovery-codes",
    summary="Regenerate the recovery codes",
    tags=["me"],
    responses=api.answers(
        200, RecoveryCodesOut, "Ten new recovery codes, shown once; the previous set stops working", problems=(409,)
    ),
)
def regenerate_recovery_codes(body: Annotated[TotpCodeIn, Body()]) -> Response[str]:
    """200 with ten new recovery codes, shown once (a recent login and a current TOTP code)."""
    from switchboard.logic import mfa  # noqa: PLC0415

    principal, meta = api.caller(app)
    out: RecoveryCodesOut = mfa.regenerate_recovery_codes(principal, body.code, meta)
    return api.json_response(200, out)


@app.delete(
    "/v1/me/mfa/totp",
    summary="Turn TOTP off",
    tags=["me"],
    responses=api.answers(204, None, "TOTP is off", problems=(409,)),
)
def disable_totp(body: Annotated[TotpDisableIn, Body()]) -> Response[str]:
    """Password and a current code."""
    from switchboard.logic import mfa  # noqa: PLC0415

    principal, meta = api.caller(app)
    mfa.disable(principal, body.password, body.code, meta)
    return api.no_content()


@app.post(
    "/v1/api-keys",
    summary="Create an API key",
    tags=["api-keys"],
    responses=api.answers(201, ApiKeyCreated, "Created: the key appears in this answer only"),
)
def create_api_key(body: Annotated[ApiKeyIn, Body()]) -> Response[str]:
    """201 with the key, shown this once."""
    from switchboard.logic import api_keys  # noqa: PLC0415

    principal, meta = api.caller(app)
    out: ApiKeyCreated = api_keys.create(principal, body, meta)
    return api.json_response(201, out)


@app.get(
    "/v1/api-keys",
    summary="List API keys",
    tags=["api-keys"],
    responses=api.answers(200, ApiKeyList, "The account's API keys (no secrets)"),
)
def list_api_keys(
    limit: api.PageLimit = api.DEFAULT_LIMIT,
    cursor: api.NextCursor = None,
) -> Response[str]:
    """Oldest first, paged; no secrets; with last_used_at."""
    from switchboard.logic import api_keys  # noqa: PLC0415

    principal, _ = api.caller(app)
    out: ApiKeyList = api_keys.list_keys(principal, limit, cursor)
    return api.json_response(200, out)


@app.delete(
    "/v1/api-keys/<key_id>",
    summary="Revoke an API key",
    tags=["api-keys"],
    responses=api.answers(204, None, "Revoked", problems=(404,)),
)
def revoke_api_key(key_id: str) -> Response[str]:
    """Refused from the next request on."""
    from switchboard.logic import api_keys  # noqa: PLC0415

    principal, meta = api.caller(app)
    api_keys.revoke(principal, key_id, meta)
    return api.no_content()


@app.post(
    "/v1/api-keys/<key_id>/rotate",
    summary="Rotate an API key",
    tags=["api-keys"],
    responses=api.answers(201, ApiKeyCreated, "The new key, shown once", problems=(404,)),
)
def rotate_api_key(key_id: str, body: Annotated[RotateIn | None, Body()] = None) -> Response[str]:
    """201 with a new key; the old one works for grace_s more seconds."""
    from switchboard.logic import api_keys  # noqa: PLC0415

    principal, meta = api.caller(app)
    out: ApiKeyCreated = api_keys.rotate(principal, key_id, (body or RotateIn()).grace_s, meta)
    return api.json_response(201, out)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy entry point."""
    return api.handle(app, event, context)
