"""Fixes for moto 5.2.5 (pinned) that the local pipeline depends on.

* Published Lambda versions keep their own code. moto's ``publish_version`` makes a
  shallow copy of ``$LATEST``, so the ``code`` dict (``ImageUri``, ``ZipFile``) stays
  shared and a later ``UpdateFunctionCode`` rewrites every published version: a
  rollback to an older version would run the new code.
* ``ValidateStateMachineDefinition`` and ``ListStateMachineVersions``, which moto lacks
  and the Terraform AWS provider calls.
* S3 bucket policies and TLS: moto cannot evaluate ``Bool`` conditions and applies such a
  statement unconditionally, so a TLS-only bucket policy (deny when ``aws:SecureTransport``
  is false) denied every object request. The emulator's loopback HTTP stands in for the TLS
  that every AWS SDK call uses, so requests count as secure transport.
* The Step Functions interpreter's own boto3 clients (``install_interpreter_clients``): moto
  makes them with key "ak", so every Task would act in account 123456789012; here they act
  as the state machine's role, in the account of the resource they call.

``role_credentials`` mints STS sessions of a role in-process (the Lambda runtime uses it for
execution roles). ``install()`` and ``install_interpreter_clients()`` are idempotent and
patch moto in-process (the server runs in-process).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from moto.awslambda.models import LambdaFunction, LambdaStorage
from moto.core.responses import ActionResult
from moto.stepfunctions.responses import StepFunctionResponse

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Apply the fixes once (safe to call again)."""
    global _installed
    with _lock:
        if _installed:
            return
        _patch_publish_version()
        _patch_stepfunctions_responses()
        _patch_dynamodb_atomic_writes()
        _patch_s3_secure_transport()
        _installed = True


# --- S3 bucket policies: requests to the emulator count as TLS -------------------------------


def _secure_transport_statement(statement: dict[str, Any]) -> dict[str, Any] | None:
    """The statement as it applies to a TLS request: None when only an insecure one matches it."""
    conditions = statement.get("Condition")
    if not isinstance(conditions, dict) or set(conditions) != {"Bool"}:
        return statement
    tests = conditions["Bool"]
    if not isinstance(tests, dict) or set(tests) != {"aws:SecureTransport"}:
        return statement
    wanted = tests["aws:SecureTransport"]
    values = [str(v).lower() for v in (wanted if isinstance(wanted, list) else [wanted])]
    if "true" not in values:
        return None
    return {k: v for k, v in statement.items() if k != "Condition"}


def _patch_s3_secure_transport() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        raw = document.get("Statement", [])
        statements = [
            kept
            for statement in (raw if isinstance(raw, list) else [raw])
            if (kept := _secure_transport_statement(statement)) is not None
        ]
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": statements})).is_action_permitted(
            action, resource
        )

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


# --- DynamoDB conditional writes are atomic ------------------------------------------------------

_dynamodb_write_lock = threading.RLock()


def _patch_dynamodb_atomic_writes() -> None:
    """Serialise DynamoDB writes: moto checks a condition and writes in two steps.

    DynamoDB evaluates ``ConditionExpression`` and writes as one atomic step; in moto's
    threaded server two concurrent requests can both pass the condition. The approval's
    "decide exactly once" rests on that atomicity, so writes take one lock here.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _dynamodb_write_lock:
                return __original(self, *args, **kwargs)

        locked.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)


# --- Lambda versions keep their own code ---------------------------------------------------------


def _patch_publish_version() -> None:
    original = LambdaStorage.publish_version

    def publish_version(self: LambdaStorage, name_or_arn: str, description: str = "") -> Any:
        before = _published_versions(self, name_or_arn)
        fn = original(self, name_or_arn, description)
        if fn is not None and all(fn is not v for v in before):
            snapshot_code(fn)
        return fn

    publish_version.__wrapped__ = original  # type: ignore[attr-defined]
    LambdaStorage.publish_version = publish_version  # type: ignore[method-assign]


def _published_versions(storage: LambdaStorage, name_or_arn: str) -> list[LambdaFunction]:
    try:
        name = storage.get_function_by_name_or_arn_forbid_qualifier(name_or_arn).function_name
    except Exception:  # moto raises its own not-found error later, in the original call
        return []
    return list(storage._functions.get(name, {}).get("versions", []))


def snapshot_code(fn: LambdaFunction) -> None:
    """Give a freshly published version private copies of everything ``$LATEST`` may mutate."""
    fn.code = copy.deepcopy(fn.code)
    fn.environment_vars = dict(fn.environment_vars or {})
    fn.tags = dict(fn.tags or {})
    fn.layers = list(fn.layers)
    fn.image_config = copy.deepcopy(fn.image_config)
    fn.code_or_config_updated = False


# --- Step Functions APIs moto lacks ---------------------------------------------------------------


def validate_definition(definition: str) -> dict[str, Any]:
    """The ``ValidateStateMachineDefinition`` answer for an ASL document.

    The document is parsed by moto's own ASL parser (the interpreter that will run it);
    anything it rejects is reported as one ERROR diagnostic.
    """

    def fail(code: str, message: str) -> dict[str, Any]:
        diagnostic = {"severity": "ERROR", "code": code, "message": message, "location": "/"}
        return {"result": "FAIL", "diagnostics": [diagnostic], "truncated": False}

    try:
        document = json.loads(definition)
    except (TypeError, ValueError) as exc:
        return fail("INVALID_JSON_DESCRIPTION", f"definition is not valid JSON: {exc}")
    if not isinstance(document, dict):
        return fail("SCHEMA_VALIDATION_FAILED", "definition must be a JSON object")
    for field in ("StartAt", "States"):
        if field not in document:
            return fail("SCHEMA_VALIDATION_FAILED", f"definition has no {field} field")
    if not isinstance(document["States"], dict) or document["StartAt"] not in document["States"]:
        return fail("SCHEMA_VALIDATION_FAILED", "StartAt does not name a state in States")
    try:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        AmazonStateLanguageParser.parse(definition)
    except Exception as exc:  # the parser raises several types, all meaning "invalid"
        return fail("SCHEMA_VALIDATION_FAILED", str(exc) or type(exc).__name__)
    return {"result": "OK", "diagnostics": [], "truncated": False}


def _validate_state_machine_definition(self: StepFunctionResponse) -> ActionResult:
    return ActionResult(validate_definition(self._get_param("definition")))


def _list_state_machine_versions(self: StepFunctionResponse) -> ActionResult:
    arn = self._get_param("stateMachineArn")
    machine = self.stepfunction_backend.describe_state_machine(arn)  # raises StateMachineDoesNotExist
    versions = [
        {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date}
        for _, v in sorted(getattr(machine, "versions", {}).items(), reverse=True)
    ]
    return ActionResult({"stateMachineVersions": versions})


def _patch_stepfunctions_responses() -> None:
    # The JSON protocol dispatches X-Amz-Target "AWSStepFunctions.<Op>" to the snake_case method.
    StepFunctionResponse.validate_state_machine_definition = _validate_state_machine_definition  # type: ignore[attr-defined]
    StepFunctionResponse.list_state_machine_versions = _list_state_machine_versions  # type: ignore[attr-defined]


# --- credentials of a role, minted in-process ----------------------------------------------------

_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/.+$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[\w-]*:[\w-]+:[\w-]*:(\d{12}):")
_QUEUE_URL_ACCOUNT = re.compile(r"^https?://[^/]+/(\d{12})/")
_role_keys: dict[str, dict[str, str]] = {}
_role_lock = threading.Lock()


def role_credentials(role_arn: str, session_name: str = "mlops-local") -> dict[str, str]:
    """Env-style keys of an STS session of ``role_arn``; moto maps them to the role's account.

    Sessions are minted directly in moto's STS backend (no HTTP) and reused per role while
    moto still knows the key (a backend reset forgets them).
    """
    match = _ROLE_ARN.match(role_arn or "")
    if not match:
        raise ValueError(f"not an IAM role ARN: {role_arn!r}")
    account = match.group(1)
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    with _role_lock:
        cached = _role_keys.get(role_arn)
        if cached and cached["AWS_ACCESS_KEY_ID"] in iam_backends[account]["aws"].access_keys:
            return dict(cached)
        session = sts_backends[account]["aws"].assume_role(
            region_name="us-east-1",
            role_session_name=session_name[:64],
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        keys = {
            "AWS_ACCESS_KEY_ID": session.access_key_id,
            "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
            "AWS_SESSION_TOKEN": session.session_token,
        }
        _role_keys[role_arn] = keys
        return dict(keys)


def account_of(params: Mapping[str, Any]) -> str | None:
    """The account named by the first resource ARN (or SQS queue URL) among top-level params."""
    for value in params.values():
        if isinstance(value, str):
            match = _ARN_ACCOUNT.match(value) or _QUEUE_URL_ACCOUNT.match(value)
            if match:
                return match.group(1)
    return None


# --- the Step Functions interpreter's own clients --------------------------------------------------

_sfn_endpoint: str | None = None
_sfn_patched = False


def set_interpreter_endpoint(endpoint_url: str | None) -> None:
    """Where the interpreter's clients send their calls (the running emulator)."""
    global _sfn_endpoint
    _sfn_endpoint = endpoint_url


def install_interpreter_clients() -> None:
    """Make every client of moto's ASL interpreter act in the right account.

    moto builds them with key "ak" (account 123456789012). Here each client uses the
    credentials of the state machine's role (or the task's ``Credentials.RoleArn``) and adds
    ``x-moto-account-id`` for the account of the resource ARN in the call, falling back to the
    role's account: a state machine in 111111111111 invoking its Lambda by ARN lands there.
    """
    global _sfn_patched
    with _lock:
        if _sfn_patched:
            return
        import importlib
        import sys

        from moto.stepfunctions.parser.asl.utils import boto_client as module

        original = module.boto_client_for
        for name in _INTERPRETER_MODULES:
            importlib.import_module(name)
        patched = _make_client_factory(original)
        for name, loaded in list(sys.modules.items()):
            if (
                name.startswith("moto.stepfunctions.parser")
                and getattr(loaded, "boto_client_for", None) is original
            ):
                loaded.boto_client_for = patched  # type: ignore[attr-defined]
        _sfn_patched = True


_INTERPRETER_MODULES = tuple(
    "moto.stepfunctions.parser.asl.component.state." + suffix
    for suffix in (
        "exec.state_task.lambda_eval_utils",
        "exec.state_map.result_writer.resource_eval.resource_eval_s3",
        "exec.state_map.item_reader.eval.resource_eval_s3",
        "exec.state_task.service.state_task_service_unsupported",
        "exec.state_task.service.state_task_service_glue",
        "exec.state_task.service.state_task_service_events",
        "exec.state_task.service.state_task_service_ecs",
        "exec.state_task.service.state_task_service_sqs",
        "exec.state_task.service.state_task_service_sfn",
        "exec.state_task.service.state_task_service_dynamodb",
        "exec.state_task.service.state_task_service_batch",
        "exec.state_task.service.state_task_service_sns",
        "exec.state_task.service.state_task_service_aws_sdk",
    )
)


def _make_client_factory(original: Any) -> Any:
    import boto3
    from botocore.config import Config

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        endpoint = _sfn_endpoint
        if endpoint is None:
            return original(region=region, service=service, state_credentials=state_credentials)
        role_arn = getattr(state_credentials, "role_arn", None) or ""
        role_match = _ROLE_ARN.match(role_arn)
        keys = role_credentials(role_arn, "states-interpreter") if role_match else {}
        client = boto3.client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id=keys.get("AWS_ACCESS_KEY_ID", "ak"),
            aws_secret_access_key=keys.get("AWS_SECRET_ACCESS_KEY", "sk"),
            aws_session_token=keys.get("AWS_SESSION_TOKEN"),
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=99999,
                read_timeout=99999,
            ),
        )
        default_account = role_match.group(1) if role_match else None

        def remember_account(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["moto_account"] = account_of(params) or default_account

        def add_header(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            account = context.get("moto_account")
            if account:
                params.setdefault("headers", {})["x-moto-account-id"] = account

        client.meta.events.register("before-parameter-build", remember_account)
        client.meta.events.register("before-call", add_header)
        return client

    boto_client_for.__wrapped__ = original  # type: ignore[attr-defined]
    return boto_client_for
