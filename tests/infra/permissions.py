"""Glue between the ledger, the synthesized templates and the evaluator: each recorded call as AWS authorizes it.

A template is resolved to plain ARNs (CloudFormation intrinsics, cross-stack `Fn::ImportValue` exports and
`AWS::SSM::Parameter::Value<String>` parameters resolve to the data stack's resources). Each ledger row becomes the
requests AWS evaluates: the call itself (identity policy + the resource's policy) and the KMS calls the service
makes on the caller's behalf for a CMK-encrypted table, queue or secret (key policy + identity policy, with the
condition keys that service sets). What Lambda itself does with a function's role (event source mappings,
on-failure destinations, logs, X-Ray) is derived from the template as implied calls.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from infra.constructs.status_page import PAGE_OBJECTS
from local.recorder import SEEDER
from switchboard import catalog
from tests.infra import iam
from tests.ledger import Row

SECRET_SUFFIX = "AbCdEf"  # Secrets Manager appends six random characters to a secret's ARN
TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}
SQS_ACTIONS["ChangeMessageVisibilityBatch"] = "ChangeMessageVisibility"
# What each service asks KMS for, on the caller's behalf, per operation (AWS's service documentation).
SQS_KMS = {"SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"), "ReceiveMessage": ("kms:Decrypt",)}
SECRETS_KMS = {"GetSecretValue": ("kms:Decrypt",), "PutSecretValue": ("kms:GenerateDataKey", "kms:Decrypt")}
# S3 (SSE-KMS with a Bucket Key): the action each operation needs, and what S3 asks KMS for on the caller's behalf.
S3_ACTIONS = {
    "ListObjectsV2": "ListBucket",
    "GetObject": "GetObject",
    "PutObject": "PutObject",
    # The Files bucket: every version of a prefix listed, then deleted by version id (DeleteObjects checks each).
    "ListObjectVersions": "ListBucketVersions",
    "DeleteObjects": "DeleteObjectVersion",
}
S3_LISTS = {"ListBucket", "ListBucketVersions"}
S3_KMS = {"GetObject": ("kms:Decrypt",), "PutObject": ("kms:GenerateDataKey",)}
MAC_OPERATIONS = {"GenerateMac", "VerifyMac"}
SIGN_OPERATIONS = {"Sign", "GetPublicKey"}  # the deletion receipts' key (switchboard.crypto.receipt_signing)
KEY_ALGORITHMS = {
    **{operation: {"kms:MacAlgorithm": "HMAC_SHA_256"} for operation in MAC_OPERATIONS},
    **{operation: {"kms:SigningAlgorithm": "ECDSA_SHA_256"} for operation in SIGN_OPERATIONS},
}
_IDEMPOTENCY = (
    "switchboard.api gives every authenticated POST an Idempotency-Key record (conditional Puts, a Delete when "
    "the route raises after its claim, which no test makes happen)"
)
_CHANNELS = "the same channel-generic enqueue the tests exercise for sms (Channel.SMS) serves this channel's queue"
# Grants no recorded call uses, each with its reason (the whole allowlist): (function, catalog resource, IAM action
# or "*" for every grant on it) -> reason. Each is a code path no test reaches yet, not a privilege the code lacks.
ALLOWED_EXTRAS: dict[tuple[str, str, str], str] = {
    **{
        (name, "Idempotency", "dynamodb:DeleteItem"): _IDEMPOTENCY
        for name in (
            "account_api",
            "webhooks_api",
            "recipients_api",
            "identity_api",
            "messages_api",
            "conversations_api",
            "files_api",
        )
    },
    ("voice_send_worker", "Callbacks", "*"): "message.status webhooks of a voice send: the channel-generic status "
    "publisher the sms and whatsapp workers' tests record (no voice test has a webhook endpoint)",
    **{(name, f"{c}Send", "*"): _CHANNELS for name in ("carrier_events", "release_job") for c in ("Voice", "Whatsapp")},
    ("recipients_api", "Callbacks", "*"): "recipient.opted_out webhooks (no test has an endpoint when one opts out)",
    ("receipts_job", "Callbacks", "*"): "message.status webhooks of a message the job settles (no reconciliation "
    "test has a webhook endpoint)",
}


def pascal(name: str) -> str:
    """A catalog name as CDK construct ids spell it."""
    return "".join(part.capitalize() for part in name.split("_"))


@dataclass
class Stack:
    """One synthesized template and how its resources are named once deployed."""

    name: str
    template: dict[str, Any]
    account: str
    region: str

    def resource(self, logical_id: str) -> dict[str, Any]:
        """A resource of this stack by logical id."""
        resource: dict[str, Any] = self.template["Resources"][logical_id]
        return resource

    def find(self, resource_type: str, pattern: str) -> str:
        """The one logical id of this type whose id matches `pattern` (a regex anchored at the start)."""
        found = [
            lid
            for lid, r in self.template["Resources"].items()
            if r["Type"] == resource_type and re.match(pattern + r"[0-9A-F]{8}$", lid)
        ]
        if len(found) != 1:
            raise LookupError(f"{self.name}: {len(found)} {resource_type} match {pattern}")
        return found[0]


class Resolver:
    """Resolves intrinsics of a stage's two stacks to the strings AWS would see."""

    def __init__(self, data: Stack, api: Stack) -> None:
        self.stacks = {data.name: data, api.name: api}
        self.data, self.api = data, api
        self.exports: dict[str, tuple[Stack, Any]] = {}
        self.parameters: dict[str, tuple[Stack, Any]] = {}
        for stack in (data, api):
            for output in stack.template.get("Outputs", {}).values():
                if "Export" in output:
                    self.exports[str(self.resolve(stack, output["Export"]["Name"]))] = (stack, output["Value"])
            for resource in stack.template["Resources"].values():
                if resource["Type"] == "AWS::SSM::Parameter":
                    props = resource["Properties"]
                    self.parameters[str(self.resolve(stack, props["Name"]))] = (stack, props["Value"])

    def physical(self, stack: Stack, logical_id: str, attribute: str | None) -> str:  # noqa: PLR0911, PLR0912
        """What `Ref` (attribute None) or `Fn::GetAtt` gives for a resource, deployed."""
        resource = stack.resource(logical_id)
        kind, props = resource["Type"], resource.get("Properties", {})
        account, region = stack.account, stack.region
        default = f"{stack.name}-{logical_id}"
        if kind == "AWS::DynamoDB::Table":
            name = str(self.resolve(stack, props.get("TableName", default)))
            return f"arn:aws:dynamodb:{region}:{account}:table/{name}" if attribute == "Arn" else name
        if kind == "AWS::SQS::Queue":
            name = str(self.resolve(stack, props.get("QueueName", default)))
            if attribute == "Arn":
                return f"arn:aws:sqs:{region}:{account}:{name}"
            return name if attribute == "QueueName" else f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{region}:{account}:secret:{logical_id}-{SECRET_SUFFIX}"
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{region}:{account}:key/{logical_id}" if attribute == "Arn" else logical_id
        if kind == "AWS::IAM::Role":
            name = str(self.resolve(stack, props.get("RoleName", default[:64])))
            return f"arn:aws:iam::{account}:role/{name}" if attribute == "Arn" else name
        if kind == "AWS::Logs::LogGroup":
            name = str(self.resolve(stack, props.get("LogGroupName", default)))
            return f"arn:aws:logs:{region}:{account}:log-group:{name}:*" if attribute == "Arn" else name
        if kind == "AWS::Lambda::Function":
            name = str(self.resolve(stack, props.get("FunctionName", default)))
            return f"arn:aws:lambda:{region}:{account}:function:{name}" if attribute == "Arn" else name
        if kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            # Ref of either is its qualified ARN: the function's ARN and the alias name (or version number).
            function = str(self.resolve(stack, props["FunctionName"]))
            if not function.startswith("arn:"):
                function = f"arn:aws:lambda:{region}:{account}:function:{function}"
            return f"{function}:{props['Name'] if kind == 'AWS::Lambda::Alias' else '1'}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{region}:{account}:{default}"
        if kind == "AWS::S3::Bucket":
            name = str(self.resolve(stack, props.get("BucketName", default.lower())))
            return f"arn:aws:s3:::{name}" if attribute == "Arn" else name
        if kind == "AWS::SES::EmailIdentity":
            return str(self.resolve(stack, props["EmailIdentity"]))
        if kind == "AWS::SES::ConfigurationSet":
            return str(self.resolve(stack, props.get("Name", default)))
        return f"{default}.{attribute}" if attribute else default

    def resolve(self, stack: Stack, value: Any) -> Any:  # noqa: PLR0911
        """`value` with every intrinsic function replaced by its deployed value."""
        if isinstance(value, list):
            return [self.resolve(stack, v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(stack, v) for k, v in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(stack, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.physical(stack, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(stack, p)) for p in self.resolve(stack, parts))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(stack, items)[int(self.resolve(stack, index))]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(stack, text)).split(separator)
        if function == "Fn::Sub":
            return self._sub(stack, argument)
        if function == "Fn::ImportValue":
            exporter, exported = self.exports[str(self.resolve(stack, argument))]
            return self.resolve(exporter, exported)
        return {k: self.resolve(stack, v) for k, v in value.items()}

    def _ref(self, stack: Stack, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": stack.account,
            "AWS::Region": stack.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack.name,
        }
        if name in pseudo:
            return pseudo[name]
        parameter = stack.template.get("Parameters", {}).get(name)
        if parameter is not None:
            if str(parameter["Type"]).startswith("AWS::SSM::Parameter::Value"):
                owner, stored = self.parameters[str(parameter["Default"])]
                return self.resolve(owner, stored)
            return parameter.get("Default", name)
        return self.physical(stack, name, None)

    def _sub(self, stack: Stack, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(stack, variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.physical(stack, logical_id, attribute)
            return str(self._ref(stack, name))

        return re.sub(r"\$\{([^!][^}]*)\}", substitute, text)


@dataclass
class Model:
    """One stage's resolved policies and resources, in catalog terms."""

    stage: str
    account: str
    region: str
    mail_from: str
    roles: dict[str, str] = field(default_factory=dict)  # function -> role ARN
    identity: dict[str, list[iam.Statement]] = field(default_factory=dict)  # function -> its role's statements
    resource_policies: dict[str, list[iam.Statement]] = field(default_factory=dict)  # resource ARN -> statements
    key_policies: dict[str, list[iam.Statement]] = field(default_factory=dict)  # key ARN -> statements
    tables: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> (name, ARN, key ARN)
    queues: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (ARN, key ARN)
    secrets: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (ARN, key ARN)
    keys: dict[str, str] = field(default_factory=dict)  # Envelope/Data/... -> key ARN
    buckets: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (ARN, key ARN)
    mail_identity: str = ""
    mail_configuration_set: str = ""
    # Function or alias ARN -> the statements of its resource-based policy (AWS::Lambda::Permission).
    lambda_policies: dict[str, list[iam.Statement]] = field(default_factory=dict)
    implied: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # function -> (what, action, ARN)

    @property
    def deployed(self) -> set[str]:
        """The catalog resources (and keys) this stage deploys, by catalog id (plus `MailIdentity`)."""
        indexes = {f"{t}/index/{i.name}" for t in self.tables for i in catalog.table(t).indexes}
        objects = {f"AuditAnchors/{prefix}" for prefix in ("anchors", "archive")}
        objects |= {f"StatusPage/{key}" for key in PAGE_OBJECTS}
        objects |= {f"{b.id}/{p}" for b in catalog.BUCKETS for p in (b.stored_prefix, b.staging_prefix)}
        return {
            *self.tables,
            *indexes,
            *self.queues,
            *self.secrets,
            *self.keys,
            *self.buckets,
            *objects,
            "MailIdentity",
            "Metrics",
        }

    def extras(self, function: str) -> set[tuple[str, str]]:
        """(ARN, action or "*") of the function's allowlisted grants; a table's name too (KMS conditions name it)."""
        found = set()
        for fn, resource, action in ALLOWED_EXTRAS:
            if fn == function:
                found.add((self.arn_of(resource), action))
                if resource in self.tables:
                    found.add((self.tables[resource][0], action))
        return found

    def unrecorded(self, function: str) -> set[str]:
        """ARNs (and table names) of resources the function has no recorded call on at all (ALLOWED_EXTRAS "*")."""
        return {arn for arn, action in self.extras(function) if action == "*"}

    def arn_of(self, resource: str) -> str:
        """The ARN of a catalog table, queue or secret."""
        if resource in self.tables:
            return self.tables[resource][1]
        return (self.queues.get(resource) or self.secrets[resource])[0]

    def without(self, function: str, origin: str, resource: str | None) -> Model:
        """A copy whose `function` role lacks one statement (or one resource of it, with its indexes)."""
        mutated = copy.copy(self)
        mutated.identity = dict(self.identity)
        kept = []
        for statement in self.identity[function]:
            if statement.origin != origin:
                kept.append(statement)
            elif resource is not None:
                rest = tuple(r for r in statement.resources if r != resource)
                if rest:
                    kept.append(dataclasses.replace(statement, resources=rest))
        mutated.identity[function] = kept
        return mutated


def _policies_of_role(stack: Stack, resolver: Resolver, role_id: str) -> list[iam.Statement]:
    found: list[iam.Statement] = []
    role = stack.resource(role_id)
    if role.get("Properties", {}).get("ManagedPolicyArns"):
        raise ValueError(f"{role_id}: managed policies are outside the evaluated subset")
    for policy in role.get("Properties", {}).get("Policies", []):
        found += iam.statements(resolver.resolve(stack, policy["PolicyDocument"]), f"{role_id}/{policy['PolicyName']}")
    for logical_id, resource in stack.template["Resources"].items():
        # CDK moves statements past IAM's inline size limit into managed "overflow" policies of the same role.
        kinds = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        if resource["Type"] in kinds and {"Ref": role_id} in resource["Properties"].get("Roles", []):
            found += iam.statements(resolver.resolve(stack, resource["Properties"]["PolicyDocument"]), logical_id)
    return found


def build(stage: str, data_template: dict[str, Any], api_template: dict[str, Any], config: Any) -> Model:
    """The model of one stage from its two templates (any mutation of them included)."""
    data = Stack(f"Switchboard-{stage}-Data", data_template, config.account, config.region)
    api = Stack(f"Switchboard-{stage}-Api", api_template, config.account, config.region)
    resolver = Resolver(data, api)
    model = Model(stage, config.account, config.region, parseaddr(config.mail_from)[1])
    functions = {}
    for spec in catalog.FUNCTIONS:
        try:
            functions[spec.name] = (api, api.find("AWS::Lambda::Function", f"{pascal(spec.name)}Function"))
        except LookupError:
            continue  # not deployed in this stage
    functions[SEEDER] = (data, data.find("AWS::Lambda::Function", "SecretsSeederFunction"))
    for name, (stack, lid) in functions.items():
        _add_function(model, resolver, stack, name, stack.resource(lid)["Properties"])
    function_ids = {(stack.name, lid): name for name, (stack, lid) in functions.items()}
    for stack in (data, api):
        for logical_id, resource in stack.template["Resources"].items():
            _add_resource(
                model, resolver, stack=stack, logical_id=logical_id, resource=resource, function_ids=function_ids
            )
    _add_catalog_resources(model, resolver, data, api)
    return model


def _add_function(model: Model, resolver: Resolver, stack: Stack, name: str, props: dict[str, Any]) -> None:
    role_id = props["Role"]["Fn::GetAtt"][0]
    model.roles[name] = resolver.physical(stack, role_id, "Arn")
    model.identity[name] = _policies_of_role(stack, resolver, role_id)
    implied = model.implied.setdefault(name, [])
    log_group = resolver.resolve(stack, props["LoggingConfig"]["LogGroup"])
    log_arn = f"arn:aws:logs:{stack.region}:{stack.account}:log-group:{log_group}:log-stream:2026/01/01/[$LATEST]0"
    implied += [
        ("Lambda writes the function's logs", a, log_arn) for a in ("logs:CreateLogStream", "logs:PutLogEvents")
    ]
    if props.get("TracingConfig", {}).get("Mode") == "Active":
        xray = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
        implied += [("Lambda sends X-Ray traces", a, "*") for a in xray]


def _queue_arn(url: str) -> str:
    match = re.match(r"https://sqs\.([^.]+)\.[^/]+/(\d+)/(.+)$", url)
    if match is None:
        raise ValueError(f"not a queue URL: {url}")
    region, account, name = match.groups()
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _add_resource(
    model: Model,
    resolver: Resolver,
    *,
    stack: Stack,
    logical_id: str,
    resource: dict[str, Any],
    function_ids: Mapping[tuple[str, str], str],
) -> None:
    kind, props = resource["Type"], resource.get("Properties", {})
    if kind == "AWS::KMS::Key":
        arn = resolver.physical(stack, logical_id, "Arn")
        document = resolver.resolve(stack, props["KeyPolicy"])
        model.key_policies[arn] = iam.statements(document, f"key policy {logical_id}")
        model.keys[re.sub(r"^Keys|Key[0-9A-F]{8}$", "", logical_id)] = arn
    elif kind == "AWS::SQS::Queue":
        arn = resolver.physical(stack, logical_id, "Arn")
        key = props.get("KmsMasterKeyId")
        model.queues[arn] = (arn, str(resolver.resolve(stack, key)) if key else "")
    elif kind == "AWS::SQS::QueuePolicy":
        document = resolver.resolve(stack, props["PolicyDocument"])
        for queue in props["Queues"]:
            arn = _queue_arn(str(resolver.resolve(stack, queue)))
            model.resource_policies.setdefault(arn, []).extend(iam.statements(document, f"queue policy {arn}"))
    elif kind == "AWS::S3::BucketPolicy":
        arn = f"arn:aws:s3:::{resolver.resolve(stack, props['Bucket'])}"
        document = resolver.resolve(stack, props["PolicyDocument"])
        model.resource_policies.setdefault(arn, []).extend(iam.statements(document, f"bucket policy {arn}"))
    elif kind == "AWS::SecretsManager::ResourcePolicy":
        arn = str(resolver.resolve(stack, props["SecretId"]))
        document = resolver.resolve(stack, props["ResourcePolicy"])
        model.resource_policies.setdefault(arn, []).extend(iam.statements(document, f"secret policy {arn}"))
    elif kind == "AWS::Lambda::Permission":
        target = str(resolver.resolve(stack, props["FunctionName"]))
        raw: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": props["Principal"]} if "." in props["Principal"] else {"AWS": props["Principal"]},
            "Action": props["Action"],
            "Resource": target,
        }
        if "SourceArn" in props:
            raw["Condition"] = {"ArnLike": {"aws:SourceArn": resolver.resolve(stack, props["SourceArn"])}}
        model.lambda_policies.setdefault(target, []).append(iam.statement(raw, f"lambda permission {logical_id}"))
    elif kind == "AWS::Lambda::EventSourceMapping":
        function = _function_of(resolver, stack, props["FunctionName"], function_ids)
        queue = str(resolver.resolve(stack, props["EventSourceArn"]))
        what = "Lambda's event source mapping polls the queue"
        for action in ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes"):
            model.implied[function].append((what, f"sqs:{action}", queue))
    elif kind == "AWS::Lambda::EventInvokeConfig":
        function = function_ids[(stack.name, props["FunctionName"]["Ref"])]
        queue = str(resolver.resolve(stack, props["DestinationConfig"]["OnFailure"]["Destination"]))
        model.implied[function].append(("Lambda sends a failed run to its destination", "sqs:SendMessage", queue))


def _function_of(resolver: Resolver, stack: Stack, name: Any, function_ids: Mapping[tuple[str, str], str]) -> str:
    """The catalog function an event source invokes: its name, ARN or alias (`<name>:live`, as CDK writes it)."""
    qualified = str(resolver.resolve(stack, name))
    unqualified = qualified.split(":")[6] if qualified.startswith("arn:") else qualified.split(":", maxsplit=1)[0]
    for (stack_name, logical_id), function in function_ids.items():
        if stack_name == stack.name and resolver.physical(stack, logical_id, None) == unqualified:
            return function
    raise LookupError(f"{stack.name}: no catalog function is named {qualified}")


def _add_catalog_resources(model: Model, resolver: Resolver, data: Stack, api: Stack) -> None:
    for spec in catalog.TABLES:
        lid = data.find("AWS::DynamoDB::Table", f"Tables{spec.id}")
        key = resolver.resolve(data, data.resource(lid)["Properties"]["SSESpecification"]["KMSMasterKeyId"])
        model.tables[spec.id] = (resolver.physical(data, lid, None), resolver.physical(data, lid, "Arn"), str(key))
    for queue_spec in catalog.QUEUES:
        for suffix, kind in (("", "Queue"), ("DLQ", "Dlq")):
            arn = resolver.physical(data, data.find("AWS::SQS::Queue", f"{queue_spec.id}{kind}"), "Arn")
            model.queues[f"{queue_spec.id}{suffix}"] = model.queues[arn]
    for secret_spec in catalog.SECRETS:
        try:
            lid = data.find("AWS::SecretsManager::Secret", f"Secrets{secret_spec.id}")
        except LookupError:
            continue  # not deployed in this stage (stage switches): its rows are skipped there
        key = resolver.resolve(data, data.resource(lid)["Properties"]["KmsKeyId"])
        model.secrets[secret_spec.id] = (resolver.physical(data, lid, None), str(key))
    lid = data.find("AWS::S3::Bucket", "AuditAnchorsBucket")
    encryption = data.resource(lid)["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    key = resolver.resolve(data, encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    model.buckets["AuditAnchors"] = (resolver.physical(data, lid, "Arn"), str(key))
    for bucket in catalog.BUCKETS:
        lid = data.find("AWS::S3::Bucket", f"{bucket.id}Bucket")
        encryption = data.resource(lid)["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        key = resolver.resolve(data, encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
        model.buckets[bucket.id] = (resolver.physical(data, lid, "Arn"), str(key))
    # S3-managed encryption (Cloudflare reads it anonymously): no key.
    model.buckets["StatusPage"] = (resolver.physical(api, api.find("AWS::S3::Bucket", "StatusPageBucket"), "Arn"), "")
    domain = resolver.physical(api, api.find("AWS::SES::EmailIdentity", "MailIdentity"), None)
    model.mail_identity = f"arn:aws:ses:{api.region}:{api.account}:identity/{domain}"
    configuration_set = api.find("AWS::SES::ConfigurationSet", "MailConfigurationSet")
    name = resolver.resolve(api, api.resource(configuration_set)["Properties"]["Name"])
    model.mail_configuration_set = f"arn:aws:ses:{api.region}:{api.account}:configuration-set/{name}"


@dataclass(frozen=True)
class Check:
    """One request to evaluate and where its verdict comes from."""

    request: iam.Request
    key_policy: bool


def _base(model: Model, function: str, label: str) -> dict[str, iam.ContextValue]:
    return {
        "aws:principalarn": model.roles[function],
        "aws:principalaccount": model.account,
        "aws:securetransport": "true",
        "_label": label,
    }


def _request(
    model: Model, function: str, action: str, resource: str, *, context: Mapping[str, Any], label: str
) -> Check:
    ctx = {k.lower(): v for k, v in {**_base(model, function, label), **context}.items() if k != "_label"}
    request = iam.Request(model.roles[function], action, resource, ctx, label)
    return Check(request, key_policy=action.startswith("kms:") and resource.startswith("arn:aws:kms:"))


def _via(
    model: Model,
    function: str,
    service: str,
    key: str,
    *,
    actions: Iterable[str],
    context: Mapping[str, Any],
    label: str,
) -> Iterator[Check]:
    if not key:
        return
    via = {
        "kms:ViaService": f"{service}.{model.region}.amazonaws.com",
        "kms:CallerAccount": model.account,
        "kms:EncryptionContextKeys": [k.removeprefix("kms:EncryptionContext:") for k in context],
        **context,
    }
    for action in actions:
        yield _request(model, function, action, key, context=via, label=f"{label} -> {action} via {service}")


def _unencrypted_checks(model: Model, row: Row) -> list[Check] | None:
    """The status page's objects (S3-managed encryption) and CloudWatch metric reads: the call alone, no KMS."""
    function, service, operation, resource = row
    label = " ".join(row)
    if service == "s3" and resource.startswith("StatusPage/"):
        arn, _ = model.buckets["StatusPage"]
        target = f"{arn}/{resource.partition('/')[2]}"
        return [_request(model, function, f"s3:{S3_ACTIONS[operation]}", target, context={}, label=label)]
    if service == "cloudwatch":
        return [_request(model, function, f"cloudwatch:{operation}", "*", context={}, label=label)]
    return None


def checks(model: Model, row: Row) -> list[Check]:  # noqa: PLR0912, PLR0915 - one branch per service
    """The requests AWS evaluates for one ledger row (the call, then the KMS calls the service makes for it)."""
    function, service, operation, resource = row
    label = " ".join(row)
    found: list[Check] = []
    if resource.startswith("?"):
        raise LookupError(f"{label}: the resource is not a catalog resource")
    if (unencrypted := _unencrypted_checks(model, row)) is not None:
        return unencrypted
    if service == "dynamodb":
        table_id, _, index = resource.partition("/index/")
        name, arn, key = model.tables[table_id]
        target = f"{arn}/index/{index}" if index else arn
        api_operation, _, kind = operation.partition(":")
        action = TRANSACT.get(kind, kind) if kind else api_operation
        found.append(_request(model, function, f"dynamodb:{action}", target, context={}, label=label))
        kms_actions = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if action in DYNAMODB_WRITES else [])
        context = {
            "kms:EncryptionContext:aws:dynamodb:tableName": name,
            "kms:EncryptionContext:aws:dynamodb:subscriberId": model.account,
        }
        found += _via(model, function, "dynamodb", key, actions=kms_actions, context=context, label=label)
    elif service == "sqs":
        arn, key = model.queues[resource]
        action = SQS_ACTIONS.get(operation, operation)
        found.append(_request(model, function, f"sqs:{action}", arn, context={}, label=label))
        context = {"kms:EncryptionContext:aws:sqs:arn": arn}
        found += _via(model, function, "sqs", key, actions=SQS_KMS.get(action, ()), context=context, label=label)
    elif service == "secretsmanager":
        arn, key = model.secrets[resource]
        found.append(_request(model, function, f"secretsmanager:{operation}", arn, context={}, label=label))
        context = {"kms:EncryptionContext:SecretARN": arn, "kms:EncryptionContext:SecretVersionId": "v1"}
        found += _via(
            model, function, "secretsmanager", key, actions=SECRETS_KMS.get(operation, ()), context=context, label=label
        )
    elif service == "s3":
        bucket, _, prefix = resource.partition("/")
        arn, key = model.buckets[bucket]
        action = S3_ACTIONS[operation]
        if action in S3_LISTS:
            listed = {"s3:prefix": f"{prefix or 'anchors'}/acct_1/"}  # the anchors' listing names no prefix
            found.append(_request(model, function, f"s3:{action}", arn, context=listed, label=label))
        else:
            write = {"s3:if-none-match": "*"} if action == "PutObject" else {}
            target = f"{arn}/{prefix}/acct_1/000000000001"
            found.append(_request(model, function, f"s3:{action}", target, context=write, label=label))
        context = {"kms:EncryptionContext:aws:s3:arn": arn}
        found += _via(model, function, "s3", key, actions=S3_KMS.get(operation, ()), context=context, label=label)
    elif service == "kms" and operation in MAC_OPERATIONS | SIGN_OPERATIONS:
        context = {"kms:CallerAccount": model.account, **KEY_ALGORITHMS[operation]}
        found.append(_request(model, function, f"kms:{operation}", model.keys[resource], context=context, label=label))
    elif service == "kms":
        context = {
            "kms:CallerAccount": model.account,
            "kms:EncryptionContext:account_id": "acct_1",
            "kms:EncryptionContextKeys": ["account_id"],
        }
        found.append(_request(model, function, f"kms:{operation}", model.keys[resource], context=context, label=label))
    elif service == "ses":
        # SES authorizes the sending identity and the configuration set the message names (mail.py: the stage's).
        context = {"ses:FromAddress": model.mail_from}
        for target in (model.mail_identity, model.mail_configuration_set):
            found.append(_request(model, function, f"ses:{operation}", target, context=context, label=label))
    else:
        raise LookupError(f"{label}: no model of how {service} authorizes")
    return found


def implied_checks(model: Model, function: str) -> list[Check]:
    """What Lambda does with the function's role (event source mappings, destinations, logs, X-Ray)."""
    found: list[Check] = []
    for what, action, resource in model.implied.get(function, []):
        label = f"{function} ({what}) {action}"
        found.append(_request(model, function, action, resource, context={}, label=label))
        if action.startswith("sqs:"):
            key = next((k for arn, k in model.queues.values() if arn == resource), "")
            context = {"kms:EncryptionContext:aws:sqs:arn": resource}
            kms_actions = SQS_KMS.get(action.removeprefix("sqs:"), ())
            found += _via(model, function, "sqs", key, actions=kms_actions, context=context, label=label)
    return found


def invoke(model: Model, service: str, target: str, source_arn: str) -> iam.Decision:
    """Whether `service` (apigateway.amazonaws.com) may invoke a function or alias ARN from `source_arn`: only the
    target's own resource policy can allow it (a service principal has no identity policy)."""
    context = {"aws:sourcearn": source_arn}
    request = iam.Request(service, "lambda:InvokeFunction", target, context, f"{service} invokes {target}")
    return iam.evaluate(request, [], model.lambda_policies.get(target, []))


def decide(model: Model, function: str, check: Check) -> iam.Decision:
    """The verdict on one request: identity statements of the role, then the key or resource policy."""
    request = check.request
    if check.key_policy:
        return iam.evaluate(
            request, model.identity[function], model.key_policies.get(request.resource, []), key_policy=True
        )
    policy = model.resource_policies.get(request.resource)
    if policy is None and request.resource.startswith("arn:aws:s3:::"):
        policy = model.resource_policies.get(request.resource.split("/", 1)[0])  # an object: its bucket's policy
    return iam.evaluate(request, model.identity[function], policy)


@dataclass
class Report:
    """Denied requests and granted-but-unused (statement, action, resource) entries of one stage."""

    denied: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    evaluated: int = 0
    skipped: list[str] = field(default_factory=list)  # rows whose function or resource this stage does not deploy


def by_function_rows(by_function: Mapping[str, list[Row]], deployed: set[str], names: list[str]) -> list[Row]:
    """Rows of functions this stage does not deploy."""
    return [row for name, rows in by_function.items() if name not in deployed for row in rows]


def evaluate(model: Model, rows: Iterable[Row], functions: Iterable[str] | None = None) -> Report:
    """Every row's requests (and the implied ones) against the model; unused grants of the functions evaluated."""
    report = Report()
    by_function: dict[str, list[Row]] = {}
    for row in rows:
        by_function.setdefault(row[0], []).append(row)
    names = sorted(f for f in (functions or model.identity) if f in model.identity)
    report.skipped += [" ".join(row) for row in by_function_rows(by_function, set(model.identity), names)]
    for function in names:
        used: set[tuple[str, str, str]] = set()
        all_checks = []
        for row in by_function.get(function, []):
            if not row[3].startswith("?") and row[3] not in model.deployed:
                report.skipped.append(" ".join(row))
                continue
            all_checks += checks(model, row)
        all_checks += implied_checks(model, function)
        for check in all_checks:
            report.evaluated += 1
            decision = decide(model, function, check)
            if not decision.allowed:
                report.denied.append(f"[{model.stage}] {check.request.label}: {decision.reason}")
            used |= set(decision.used)
        extras, unrecorded = model.extras(function), model.unrecorded(function)
        for statement in model.identity[function]:
            if statement.effect != "Allow" or any(arn in repr(statement.conditions) for arn in unrecorded):
                continue
            for action in statement.actions:
                for resource in statement.resources:
                    if {(resource, action), (resource, "*")} & extras:
                        continue
                    if (statement.origin, action, resource) not in used:
                        report.unused.append(f"[{model.stage}] {function}: {action} on {resource} ({statement.origin})")
    return report
