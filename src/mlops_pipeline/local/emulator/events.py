"""EventBridge delivery for the emulator, and Step Functions execution status events.

moto matches a rule's event pattern but only delivers to log groups, SQS, archives and other
buses; any other target makes ``PutEvents`` answer 500. ``install()`` makes a matching event
reach, in the target's own account and region:

* Step Functions ``StartExecution`` (state machine ARN),
* SNS ``Publish`` (so SNS-subscribed Lambdas get the SNS-wrapped event, as on AWS),
* Lambda ``Invoke`` (asynchronous, like EventBridge),
* SQS ``SendMessage``,

with the target's ``Input``, ``InputPath`` or ``InputTransformer`` (``InputPathsMap`` +
``InputTemplate``) applied as EventBridge does. Step Functions, SNS and Lambda deliveries run
on one background thread (EventBridge is asynchronous too); :func:`wait_for_deliveries`
waits for it. A delivery that fails is recorded (:func:`failed_deliveries`) and logged, never
turned into an error of ``PutEvents``. Disabled rules deliver nothing.

It also emits ``Step Functions Execution Status Change`` events (source ``aws.states``) on the
default bus of the state machine's account when an execution starts and when it ends, and
makes ``StopExecution`` end a run that waits for a task token at once (ABORTED), as on AWS.
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_pipeline.local.emulator.errors import EventInputError

LOG = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


@dataclass(frozen=True)
class FailedDelivery:
    """One event that could not be delivered to one target."""

    rule_arn: str
    target_id: str
    target_arn: str
    event_id: str
    error: str
    at: datetime


_FAILED: list[FailedDelivery] = []
_FAILED_LOCK = threading.Lock()
_QUEUE: queue.Queue[Callable[[], None]] = queue.Queue()
_WORKER: threading.Thread | None = None
_WORKER_LOCK = threading.Lock()


def failed_deliveries() -> list[FailedDelivery]:
    """Deliveries that failed since the last :func:`clear_failed_deliveries`."""
    with _FAILED_LOCK:
        return list(_FAILED)


def clear_failed_deliveries() -> None:
    with _FAILED_LOCK:
        _FAILED.clear()


def wait_for_deliveries(timeout: float = 10.0) -> bool:
    """Wait until every queued asynchronous delivery ran; False on timeout."""
    done = threading.Event()
    _submit(done.set)
    return done.wait(timeout)


def shutdown(timeout: float = 5.0) -> None:
    """Let queued deliveries finish (bounded) and forget recorded failures (the emulator stops)."""
    wait_for_deliveries(timeout)
    clear_failed_deliveries()


def _submit(job: Callable[[], None]) -> None:
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None or not _WORKER.is_alive():
            _WORKER = threading.Thread(target=_work, name="eventbridge-delivery", daemon=True)
            _WORKER.start()
    _QUEUE.put(job)


def _work() -> None:
    while True:
        job = _QUEUE.get()
        try:
            job()
        except Exception:  # each job records its own failure; this is a last resort
            LOG.exception("event delivery job failed")


# --------------------------------------------------------------------------- input


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(float(value), UTC)
    else:
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aws_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """moto's internal event message as EventBridge sends it (ISO ``time``, no ingestion time)."""
    result = {k: copy.deepcopy(v) for k, v in event.items() if k != "ingestion-time"}
    result["time"] = _iso(event.get("time", ""))
    return result


def _json_path(event: Mapping[str, Any], path: str) -> Any:
    from jsonpath_ng.ext import parse

    try:
        matches = parse(path).find(event)
    except Exception as exc:  # jsonpath_ng raises plain Exceptions on bad syntax
        raise EventInputError(f"invalid JSON path {path!r}: {exc}") from exc
    return matches[0].value if matches else None


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """EventBridge's ``InputTemplate``: ``<name>`` inside a JSON string gets the escaped text,
    outside a string the JSON value; unknown names are left as they are."""
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        char = template[i]
        if char == "\\" and in_string:
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<":
            match = _PLACEHOLDER.match(template, i)
            if match and match.group(1) in values:
                value = values[match.group(1)]
                if in_string:
                    text = value if isinstance(value, str) else json.dumps(value)
                    out.append(json.dumps("" if value is None else text)[1:-1])
                else:
                    out.append(json.dumps(value))
                i = match.end()
                continue
        out.append(char)
        i += 1
    return "".join(out)


def target_input(target: Mapping[str, Any], event: Mapping[str, Any], rule_arn: str, rule_name: str) -> str:
    """The text EventBridge sends to ``target`` for ``event`` (in EventBridge's shape)."""
    if "Input" in target and target["Input"] is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return json.dumps(_json_path(event, str(target["InputPath"])))
    transformer = target.get("InputTransformer")
    if transformer:
        values: dict[str, Any] = {
            name: _json_path(event, str(path))
            for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        values.setdefault("aws.events.rule-arn", rule_arn)
        values.setdefault("aws.events.rule-name", rule_name)
        values.setdefault("aws.events.event", event)
        values.setdefault("aws.events.event.json", event)
        values.setdefault("aws.events.event.ingestion-time", event.get("time"))
        return render_template(str(transformer.get("InputTemplate", "")), values)
    return json.dumps(event)


# --------------------------------------------------------------------------- delivery


def _record_failure(
    rule: Any, target: Mapping[str, Any], event: Mapping[str, Any], exc: BaseException
) -> None:
    failure = FailedDelivery(
        rule_arn=str(rule.arn),
        target_id=str(target.get("Id", "")),
        target_arn=str(target.get("Arn", "")),
        event_id=str(event.get("id", "")),
        error=f"{type(exc).__name__}: {exc}",
        at=datetime.now(UTC),
    )
    LOG.warning("EventBridge delivery failed: %s", failure)
    with _FAILED_LOCK:
        _FAILED.append(failure)


def _deliver(arn: Any, target_arn: str, payload: str, target: Mapping[str, Any]) -> None:
    if arn.service == "states":
        from moto.stepfunctions.responses import get_backend

        json.loads(payload)  # StartExecution needs JSON input
        get_backend(arn.account, arn.region).start_execution(
            target_arn, name=str(uuid.uuid4()), execution_input=payload
        )
    elif arn.service == "sns":
        from moto.sns.models import sns_backends

        sns_backends[arn.account][arn.region].publish(message=payload, arn=target_arn)
    elif arn.service == "lambda":
        from moto.awslambda.models import lambda_backends

        function = lambda_backends[arn.account][arn.region].get_function(target_arn)
        function.invoke(payload, {"X-Amz-Invocation-Type": "Event"}, {})
    elif arn.service == "sqs":
        from moto.sqs.models import sqs_backends

        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        sqs_backends[arn.account][arn.region].send_message(
            queue_name=arn.resource_id, message_body=payload, group_id=group_id
        )
    else:  # pragma: no cover - guarded by _OWN_SERVICES
        raise EventInputError(f"unsupported target {target_arn}")


_OWN_SERVICES = frozenset({"states", "sns", "lambda", "sqs"})
_ASYNC_SERVICES = frozenset({"states", "sns", "lambda"})
_INSTALLED = False
_INSTALL_LOCK = threading.Lock()


def install() -> None:
    """Patch moto in-process: rule targets are delivered; execution status events are emitted."""
    global _INSTALLED
    with _INSTALL_LOCK:
        if _INSTALLED:
            return
        _patch_rule_delivery()
        _patch_sns_lambda_delivery()
        _patch_execution_events()
        _INSTALLED = True


def _patch_rule_delivery() -> None:
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
            return
        event = aws_event(original_event)
        for target in list(self.targets):
            try:
                arn = parse_arn(target["Arn"])
                if arn.service not in _OWN_SERVICES:
                    # log groups, archives, other buses: moto's own delivery, one target at a time
                    single = copy.copy(self)
                    single.targets = [target]
                    original(single, original_event, transform_input)
                    continue
                payload = (
                    target_input(target, event, self.arn, self.name) if transform_input else json.dumps(event)
                )
            except Exception as exc:
                _record_failure(self, target, event, exc)
                continue
            job = _job(self, target, event, arn, payload)
            if arn.service in _ASYNC_SERVICES:
                _submit(job)
            else:
                job()

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _job(
    rule: Any, target: Mapping[str, Any], event: Mapping[str, Any], arn: Any, payload: str
) -> Callable[[], None]:
    def run() -> None:
        try:
            _deliver(arn, str(target["Arn"]), payload, target)
        except Exception as exc:
            _record_failure(rule, target, event, exc)

    return run


# --------------------------------------------------------------------------- SNS -> Lambda


def sns_lambda_event(subscription: Any, post_data: Mapping[str, Any]) -> dict[str, Any]:
    """The event a Lambda subscribed to an SNS topic receives for one notification."""
    renamed = {"SigningCertURL": "SigningCertUrl", "UnsubscribeURL": "UnsubscribeUrl"}
    sns = {renamed.get(k, k): v for k, v in post_data.items()}
    sns.setdefault("Subject", None)
    sns.setdefault("MessageAttributes", {})
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.arn,
                "Sns": sns,
            }
        ]
    }


def _patch_sns_lambda_delivery() -> None:
    from moto.sns.models import Subscription

    original_publish = Subscription.publish

    def publish(self: Subscription, message: str, message_id: str, *args: Any, **kwargs: Any) -> None:
        if self.protocol != "lambda":
            original_publish(self, message, message_id, *args, **kwargs)
            return
        # moto wraps the message in a placeholder record (topic "arn:aws:sns:EXAMPLE", 1970
        # timestamp) and invokes synchronously in the topic's account; SNS invokes the function
        # asynchronously in the function's own account with the real notification.
        from moto.awslambda.models import lambda_backends
        from moto.utilities.arns import parse_arn

        names = ("subject", "message_attributes", "group_id", "deduplication_id", "message_structure")
        params = {**dict(zip(names, args, strict=False)), **kwargs}
        if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
            params.get("message_attributes"), message
        ):
            return
        if params.get("message_structure") == "json":
            message = self._parse_message_structure(message, self.protocol)
        post_data = self.get_post_data(
            message, message_id, params.get("subject"), message_attributes=params.get("message_attributes")
        )
        arn = parse_arn(self.endpoint)
        function = lambda_backends[arn.account][arn.region].get_function(self.endpoint)
        function.invoke(json.dumps(sns_lambda_event(self, post_data)), {"X-Amz-Invocation-Type": "Event"}, {})

    Subscription.publish = publish  # type: ignore[method-assign]


# --------------------------------------------------------------------------- Step Functions events


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


def execution_status_event(execution: Any, status: str | None = None) -> dict[str, Any]:
    """The ``PutEvents`` entry of a ``Step Functions Execution Status Change`` for ``execution``."""
    status = status or getattr(execution.exec_status, "value", str(execution.exec_status))
    output = execution.output if status == "SUCCEEDED" else None
    state_machine_arn = getattr(execution.state_machine, "source_arn", None) or execution.state_machine.arn
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": _millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "output": json.dumps(output) if output is not None else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": execution.error,
        "cause": execution.cause,
    }
    return {
        "Source": "aws.states",
        "DetailType": "Step Functions Execution Status Change",
        "Detail": json.dumps(detail),
        "Resources": [execution.exec_arn],
        "EventBusName": "default",
    }


def emit_execution_status(execution: Any, status: str | None = None) -> None:
    """Put the status-change event on the default bus of the execution's account (never raises)."""
    try:
        from moto.events.models import events_backends

        events_backends[execution.account_id][execution.region_name].put_events(
            [execution_status_event(execution, status)]
        )
    except Exception:
        LOG.exception("could not emit the status change of %s", getattr(execution, "exec_arn", "?"))


def _release_waiting_tasks(execution: Any) -> None:
    """Wake every task of ``execution`` that waits for a callback (``waitForTaskToken``)."""
    env = getattr(execution.exec_worker, "env", None) if execution.exec_worker else None
    if env is not None:
        for endpoint in list(env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()


def _patch_stopped_programs() -> None:
    """A stopped program stays stopped: the error or timeout of a task that StopExecution woke
    up does not turn ABORTED into FAILED (moto sets ProgramStopped, then overwrites it)."""
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    for name in ("set_error", "set_timed_out"):
        original = getattr(Environment, name)

        def keep_stopped(self: Environment, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            if isinstance(self._program_state, ProgramStopped):
                return
            __original(self, *args, **kwargs)

        setattr(Environment, name, keep_stopped)


def _patch_execution_events() -> None:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    original_terminated = BaseExecutionWorkerCommunication.terminated
    original_start = Execution.start
    original_stop = Execution.stop

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        original_terminated(self)
        emit_execution_status(self.execution)

    def start(self: Execution) -> None:
        # Before the worker starts, so RUNNING never arrives after the final status.
        if not self.exec_worker:
            emit_execution_status(self, "RUNNING")
        original_start(self)

    def stop(self: Execution, stop_date: datetime, error: str | None, cause: str | None) -> None:
        # On AWS StopExecution ends a run that waits for a task token at once (ABORTED, with its
        # status event); moto's waiting task would sleep on until its timeout.
        original_stop(self, stop_date, error, cause)
        _release_waiting_tasks(self)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    Execution.start = start  # type: ignore[method-assign]
    Execution.stop = stop  # type: ignore[method-assign]
    _patch_stopped_programs()
