"""A stage's operations around the CDK CLI: preflight refusals, `make bootstrap`, `make destroy`, `make records`."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra.config import PEM_MARKER, ROOT, StageConfig, bootstrap_stack_name, stack_names

CDK = ("npx", "--yes", "aws-cdk@2")
NESTED_STACK = "AWS::CloudFormation::Stack"
RECOVERY_POINTS_TIMEOUT_S = 900  # recovery point deletion is asynchronous; the vault cannot go before they do


class Refused(SystemExit):
    """An operation the stage's configuration does not allow (exit status 2, the message on stderr)."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _shown(path: Path) -> str:
    """A path as the operator typed it: relative to the repository when it is inside."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def preflight(config: StageConfig, action: str, *, needs_pem: bool = True) -> None:
    """Refuse to touch AWS while cdk.json holds example values or the stage's truststore PEM is missing.

    Plain synthesis (tests, `npx aws-cdk@2 synth`) is not refused: it reaches no account.
    """
    placeholders = config.placeholders()
    if placeholders:
        raise Refused(
            f"refusing to {action} stage {config.name}: cdk.json still holds example values; set "
            + ", ".join(placeholders)
            + " (README.md#deploying)"
        )
    pem = config.truststore_pem_path
    if needs_pem and (not pem.is_file() or PEM_MARKER not in pem.read_text()):
        raise Refused(
            f"refusing to {action} stage {config.name}: {_shown(pem)} must hold the PEM certificate of "
            f"our Authenticated Origin Pulls CA; `make bootstrap STAGE={config.name} TRUSTSTORE_PEM=<file>` "
            "puts it there"
        )


def refuse_protected(config: StageConfig) -> None:
    """`make destroy` only removes stages whose cdk.json turns every protection off."""
    protections = config.protections()
    if protections:
        raise Refused(
            f"refusing to destroy stage {config.name}: its data is protected ("
            + ", ".join(f"stages.{config.name}.{name}" for name in protections)
            + " are on in cdk.json); a protected stage is removed by hand (docs/runbooks.md#backup)"
        )


def install_pem(config: StageConfig, source: str) -> None:
    """Copy the operator's PEM to the stage's path under certs/ (commit it: a CA certificate is public)."""
    text = Path(source).expanduser().read_text()
    if PEM_MARKER not in text or "PRIVATE KEY" in text:
        raise Refused(f"{source} must hold only the CA certificate (PEM), never a private key")
    target = config.truststore_pem_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"truststore: {_shown(target)} (commit it)", file=sys.stderr)


def next_steps(config: StageConfig) -> str:
    """What `make bootstrap` cannot create itself, with the exact values and commands of the stage."""
    stage, region, domain = config.name, config.region, config.domain_name
    mail_domain = config.mail_from.rpartition("@")[2].rstrip(">")
    return "\n".join(
        [
            f"Bootstrapped {stage} in aws://{config.account}/{region}: CDK toolkit and {bootstrap_stack_name(stage)} "
            f"(truststore bucket, {_shown(config.truststore_pem_path)} as its object, version in SSM "
            f"/switchboard/{stage}/truststore/version).",
            "Still to do, in this order:",
            "  1. Once per account and Region, DynamoDB advanced backup (no CloudFormation resource exists):",
            f"       aws backup update-region-settings --region {region} "
            "--resource-type-management-preference DynamoDB=true",
            f"  2. make deploy STAGE={stage}",
            f"     CloudFormation waits until ACM validates the certificate of {domain}. Meanwhile run",
            f"       make records STAGE={stage}",
            "     and put the CNAME it prints (and the SES DKIM tokens of "
            f"{mail_domain}, once the identity exists) in the",
            f"     `make edge` inputs; `make edge STAGE={stage} APPLY=1` adds them to the Cloudflare zone (DNS only).",
            f"  3. Cloudflare: make edge STAGE={stage} INPUTS=<file> prints the zone plan (proxied CNAME {domain} ->",
            f"     the RegionalDomainName output of {stack_names(stage)[1]}, SSL Full (strict), TLS 1.2+, HSTS, AOP);",
            "     APPLY=1 applies it (README, Deploying).",
            "  4. Carrier and billing credentials: docs/runbooks.md#secrets (aws secretsmanager put-secret-value).",
        ]
    )


def cdk(*args: str, runner: Callable[..., Any] = subprocess.run) -> None:
    """Run the CDK CLI (cdk.json's app builds the venv and layer it needs) in the repository."""
    runner([*CDK, *args], cwd=ROOT, check=True)


def bootstrap(config: StageConfig, pem: str | None) -> None:
    """CDK-bootstrap the stage's environment, deploy its bootstrap stack, print what is left."""
    if pem:
        preflight(config, "bootstrap", needs_pem=False)
        install_pem(config, pem)
    preflight(config, "bootstrap")
    cdk("bootstrap", f"aws://{config.account}/{config.region}", "-c", f"stage={config.name}")
    cdk(
        "deploy",
        bootstrap_stack_name(config.name),
        "--exclusively",
        "-c",
        f"stage={config.name}",
        "--require-approval",
        "broadening",
    )
    print(next_steps(config))


def stack_resources(cloudformation: Any, stack: str, resource_type: str) -> list[str]:
    """Physical ids of a stack's resources of one type ([] when the stack does not exist)."""
    try:
        pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
        summaries = [s for page in pages for s in page["StackResourceSummaries"] if s.get("PhysicalResourceId")]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return []
        raise
    found: list[str] = []
    for summary in summaries:
        if summary["ResourceType"] == NESTED_STACK:
            # A nested stack's resources are listed by the nested stack (its physical id is its ARN), not its parent.
            found += stack_resources(cloudformation, summary["PhysicalResourceId"], resource_type)
        elif summary["ResourceType"] == resource_type:
            found.append(summary["PhysicalResourceId"])
    return found


def object_locked(s3: Any, bucket: str) -> bool:
    """True when the bucket has Object Lock (its locked versions cannot be deleted: it is never emptied)."""
    try:
        configuration = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
            return False
        raise
    return bool(configuration.get("ObjectLockEnabled") == "Enabled")


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every version and delete marker of a versioned bucket (CloudFormation only deletes empty buckets)."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            deleted += len(objects)
    return deleted


def empty_vault(
    backup: Any,
    vault: str,
    *,
    timeout_s: float = RECOVERY_POINTS_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Delete the vault's recovery points and wait until they are gone (an unlocked vault only: dev)."""

    def arns() -> list[str]:
        pages = backup.get_paginator("list_recovery_points_by_backup_vault").paginate(BackupVaultName=vault)
        return [point["RecoveryPointArn"] for page in pages for point in page["RecoveryPoints"]]

    points = arns()
    for arn in points:
        backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn)
    deadline = time.monotonic() + timeout_s
    while arns():
        if time.monotonic() > deadline:
            raise SystemExit(f"recovery points of {vault} still exist after {timeout_s:.0f} s: run make destroy again")
        sleep(10)
    return len(points)


def destroy(
    config: StageConfig, *, assume_yes: bool, session: Any = None, runner: Callable[..., Any] = subprocess.run
) -> None:
    """Remove every stack and all data of an unprotected stage."""
    refuse_protected(config)
    preflight(config, "destroy", needs_pem=False)
    if not assume_yes:
        answer = input(f"Delete every stack and all data of {config.name} in {config.account}? Type the stage name: ")
        if answer.strip() != config.name:
            raise Refused("not confirmed: nothing was deleted")
    if session is None:
        session = boto3.Session(region_name=config.region)
    cloudformation = session.client("cloudformation")
    data_stack, api_stack = stack_names(config.name)
    for vault in stack_resources(cloudformation, data_stack, "AWS::Backup::BackupVault"):
        print(f"{vault}: deleted {empty_vault(session.client('backup'), vault)} recovery points", file=sys.stderr)
    # The truststore (bootstrap stack), the status page and the canary's artifacts (API stack and its nested
    # stacks), the Files bucket and its access logs (data stack): CloudFormation deletes only empty buckets. The
    # audit anchors bucket is left: Object Lock keeps its objects, and the stack retains it (docs/runbooks.md).
    s3 = session.client("s3")
    buckets = [
        *stack_resources(cloudformation, bootstrap_stack_name(config.name), "AWS::S3::Bucket"),
        *stack_resources(cloudformation, api_stack, "AWS::S3::Bucket"),
        *(b for b in stack_resources(cloudformation, data_stack, "AWS::S3::Bucket") if not object_locked(s3, b)),
    ]
    for bucket in buckets:
        print(f"{bucket}: deleted {empty_bucket(s3, bucket)} object versions", file=sys.stderr)
    cdk("destroy", "--all", "--force", "-c", f"stage={config.name}", runner=runner)


def records(config: StageConfig, session: Any = None) -> list[str]:
    """The DNS records to add to the Cloudflare zone (DNS only): ACM validation of the domain, then SES DKIM."""
    if session is None:
        session = boto3.Session(region_name=config.region)
    acm = session.client("acm")
    lines = []
    summaries = acm.list_certificates(CertificateStatuses=["PENDING_VALIDATION", "ISSUED"])["CertificateSummaryList"]
    for summary in summaries:
        if summary["DomainName"] != config.domain_name:
            continue
        certificate = acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]
        for option in certificate.get("DomainValidationOptions", []):
            record = option.get("ResourceRecord")
            if record:
                lines.append(f"{record['Name']} {record['Type']} {record['Value']}  (ACM, {certificate['Status']})")
    if not lines:
        lines.append(f"no ACM certificate for {config.domain_name} yet: run make deploy STAGE={config.name} first")
    mail_domain = config.mail_from.rpartition("@")[2].rstrip(">")
    try:
        identity = session.client("sesv2").get_email_identity(EmailIdentity=mail_domain)
    except ClientError as error:  # not created yet, or not visible to these credentials
        lines.append(f"no SES identity {mail_domain} yet ({type(error).__name__})")
    else:
        for token in identity.get("DkimAttributes", {}).get("Tokens", []):
            lines.append(f"{token}._domainkey.{mail_domain}. CNAME {token}.dkim.amazonses.com  (SES DKIM)")
    return lines


def main(argv: Sequence[str]) -> None:
    """`python -m infra.ops {preflight,bootstrap,destroy,records} STAGE` (the Makefile's targets)."""
    parser = argparse.ArgumentParser(prog="python -m infra.ops")
    parser.add_argument("command", choices=("preflight", "bootstrap", "destroy", "records"))
    parser.add_argument("stage")
    parser.add_argument("--action", default="deploy", help="what preflight is checking for (the message)")
    parser.add_argument("--pem", default="", help="bootstrap: the truststore PEM to install for the stage")
    parser.add_argument("--yes", action="store_true", help="destroy: do not ask for the stage name")
    args = parser.parse_args(argv)
    try:
        config = StageConfig.from_cdk_json(args.stage)
    except KeyError as error:
        raise Refused(str(error.args[0])) from None
    if args.command == "preflight":
        preflight(config, args.action)
    elif args.command == "bootstrap":
        bootstrap(config, args.pem or None)
    elif args.command == "destroy":
        destroy(config, assume_yes=args.yes)
    else:
        print("\n".join(records(config)))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Refused as refused:
        print(refused.message, file=sys.stderr)
        raise
    except subprocess.CalledProcessError as failed:
        raise SystemExit(failed.returncode) from None
