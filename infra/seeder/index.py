"""CloudFormation custom resource: fills a JSON secret's missing generated keys with random 256-bit values.

It never overwrites a key that exists (rotation is a runbook) and never returns a value to CloudFormation, so no
secret appears in a template, a stack event or a log. Runs on the plain Lambda runtime (boto3 only, no layers).
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from typing import Any

import boto3

KEY_BYTES = 32  # 256 bits, base64url without padding: the shape switchboard.crypto reads


def fill_missing(client: Any, secret_id: str, keys: list[str]) -> list[str]:
    """Add every key of `keys` that the secret lacks; return the names added (values never leave this function)."""
    raw = client.get_secret_value(SecretId=secret_id).get("SecretString") or "{}"
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the secret must hold a JSON object")
    added = [key for key in keys if not value.get(key)]
    if added:
        value.update({key: secrets.token_urlsafe(KEY_BYTES) for key in added})
        client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
    return added


def handle(event: dict[str, Any], client: Any) -> dict[str, Any]:
    """The response document for one CloudFormation request."""
    props = event.get("ResourceProperties", {})
    secret_id = str(props.get("SecretId", ""))
    response = {
        "Status": "SUCCESS",
        "PhysicalResourceId": event.get("PhysicalResourceId") or f"seed:{secret_id}",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": True,
        "Data": {},
    }
    if event["RequestType"] == "Delete":
        return response  # the secret's own resource decides its fate
    try:
        added = fill_missing(client, secret_id, [str(k) for k in props.get("Keys", [])])
        response["Data"] = {"Added": ",".join(added)}
    except Exception as error:  # any failure must reach CloudFormation, or the stack waits an hour for it
        response["Status"] = "FAILED"
        response["Reason"] = f"{type(error).__name__}: could not seed {secret_id}"
    return response


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    """Answer CloudFormation through the pre-signed response URL."""
    body = json.dumps(handle(event, boto3.client("secretsmanager"))).encode()
    url = event["ResponseURL"]
    if not url.startswith("https://"):
        raise ValueError("CloudFormation response URLs are https")
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - https, checked above
        pass
