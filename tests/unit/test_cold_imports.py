"""Cold imports load only what every request needs: the authorizer no pydantic or PynamoDB, handlers no storage."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard import catalog

ROOT = Path(__file__).resolve().parents[2]
# What the authorizer never needs at import: it checks a credential (PynamoDB and botocore load with the first
# one), hashes and answers a policy document. No request models, no event handler, no ciphers, no TOTP, no tracer.
NOT_IN_AUTHORIZER = (
    "pydantic",
    "pynamodb",
    "botocore.client",
    "cryptography",
    "pyotp",
    "phonenumbers",
    "aws_lambda_powertools.event_handler",
    "aws_xray_sdk",
)
# API handlers import their route's logic (and with it PynamoDB and botocore) inside the route, on first use.
NOT_IN_API_HANDLERS = ("pynamodb", "botocore.client", "cryptography", "aws_xray_sdk")
API_FUNCTIONS = sorted({f.code for f in catalog.FUNCTIONS if f.routes and f.name != catalog.AUTHORIZER})
# Queue workers and scheduled jobs import their logic (and with it PynamoDB, botocore's clients and the ciphers) in
# the handler, with the first batch or run; a queue worker's import holds only what parses its records.
NOT_IN_WORKERS = ("pynamodb", "botocore.client", "cryptography", "aws_xray_sdk")
# A scheduled job parses nothing: no pydantic either, and no Powertools batch machinery.
NOT_IN_JOBS = (*NOT_IN_WORKERS, "pydantic", "aws_lambda_powertools.utilities.batch")
WORKER_FUNCTIONS = sorted({f.code for f in catalog.FUNCTIONS if f.consumes})
JOB_FUNCTIONS = sorted({f.code for f in catalog.FUNCTIONS if f.schedule is not None})


def loaded_after(statement: str, watched: tuple[str, ...]) -> list[str]:
    """The watched packages (or any of their submodules) a fresh interpreter holds after running `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers/shared/python'}"}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    modules = json.loads(out.stdout.splitlines()[-1])
    return [w for w in watched if any(m == w or m.startswith(w + ".") for m in modules)]


def test_the_authorizer_imports_no_models_storage_or_ciphers() -> None:
    assert loaded_after("import functions.authorizer.handler", NOT_IN_AUTHORIZER) == []


@pytest.mark.parametrize("code", API_FUNCTIONS)
def test_an_api_handler_loads_storage_with_its_first_request_not_at_import(code: str) -> None:
    assert loaded_after(f"import functions.{code}.handler", NOT_IN_API_HANDLERS) == []


@pytest.mark.parametrize("code", WORKER_FUNCTIONS)
def test_a_queue_worker_loads_storage_with_its_first_batch_not_at_import(code: str) -> None:
    assert loaded_after(f"import functions.{code}.handler", NOT_IN_WORKERS) == []


@pytest.mark.parametrize("code", JOB_FUNCTIONS)
def test_a_scheduled_job_loads_storage_and_models_with_its_first_run_not_at_import(code: str) -> None:
    assert loaded_after(f"import functions.{code}.handler", NOT_IN_JOBS) == []


def test_the_catalog_and_the_domain_errors_import_nothing_heavy() -> None:
    # Every function reads the catalog (settings) and raises these errors at cold start: pure Python only.
    heavy = ("pydantic", "pynamodb", "botocore", "aws_lambda_powertools", "cryptography")
    assert loaded_after("import switchboard.catalog, switchboard.models.errors", heavy) == []


def test_the_api_handlers_checked_include_the_largest() -> None:
    assert {"identity_api", "account_api", "messages_api", "webhooks_api"} <= set(API_FUNCTIONS)


def test_every_worker_and_job_is_checked() -> None:
    assert set(WORKER_FUNCTIONS) == {"send_worker", "callback_worker", "mail_worker", "media_worker"}
    assert {"receipts_job", "release_job", "purge_job", "erasure_job", "audit_anchor_job"} <= set(JOB_FUNCTIONS)
