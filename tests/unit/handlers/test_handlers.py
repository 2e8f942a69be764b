"""Handlers with in-memory fakes: the thin layer between events and the domain."""

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from mlops_pipeline.adapters.slack.signature import sign
from mlops_pipeline.domain.errors import SmokeTestFailedError, StaleCommitError
from mlops_pipeline.domain.models import ApprovalStatus, DeployedState, InvokeResult
from mlops_pipeline.handlers import (
    deploy,
    evaluate,
    expire_approval,
    notify,
    promote,
    report,
    request_approval,
    rollback,
    slack_interactions,
    smoke_test,
)
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import (
    FakeApprovalStore,
    FakeCallbacks,
    FakeClock,
    FakeDeployedStateStore,
    FakeDeployer,
    FakeLockStore,
    FakeNotifier,
    FakeRegistry,
    FakeRunStore,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-1"
DANA = "arn:aws:iam::111111111111:user/dana"  # the pusher, as the trigger names her
TRIGGER = {
    "commit": "c0ffee" * 6 + "abcd",
    "repository": "models",
    "branch": "main",
    "author": DANA,
    "pushed_at": "2026-11-26T11:00:00Z",
}
PUSHED = 1_795_690_800  # TRIGGER's pushed_at in epoch seconds
ENV = {
    "MLOPS_TABLE": "t",
    "SLACK_CHANNEL": "CPIPE",
    "APPROVERS": "UAPPROVER",
    "IDENTITY_MAP": json.dumps({DANA: "UAUTHOR"}),
    "APPROVAL_TIMEOUT_SECONDS": "3600",
    "SMOKE_MAX_LATENCY_MS": "1000",
    # Prod moves at once here; the gradual rollout has its own tests (test_rollout_steps.py).
    "ROLLOUT_MODE": "all_at_once",
    # One Deps plays every function here; on AWS each deploy/smoke/rollback function knows one.
    "DEPLOY_TARGETS": json.dumps(
        {
            e: {"role_arn": f"arn:aws:iam::1:role/{e}", "functions": {"ships": f"{e}-fn"}}
            for e in ("stage", "prod")
        }
    ),
}


@pytest.fixture
def deps() -> Deps:
    deployers = {"stage": FakeDeployer("stage-fn"), "prod": FakeDeployer("prod-fn")}
    registry = FakeRegistry()
    registry.add(
        "ships",
        "2",
        {"rmse": 9.0},
        git_commit=TRIGGER["commit"],
        git_author="ds@example.com",
        git_commit_time="2000",
        smoke_input=json.dumps({"inputs": [{"a": 1.0}]}),
    )
    return Deps(
        env=ENV,
        clock=FakeClock(),
        approvals_store=FakeApprovalStore(),
        runs=FakeRunStore(),
        locks=FakeLockStore(),
        deployed=FakeDeployedStateStore(),
        notifier=FakeNotifier({"ds@example.com": "UAUTHOR"}),
        registry=registry,
        callbacks=FakeCallbacks(),
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        deployer_factory=lambda environment, execution, model: deployers[environment],
    )


def fake_deployer(deps: Deps, environment: str) -> FakeDeployer:
    deployer = deps.deployer(environment, EXECUTION, "ships")
    assert isinstance(deployer, FakeDeployer)
    return deployer


def model(deps: Deps) -> dict[str, Any]:
    exported = [
        {"Name": "MODEL_NAME", "Value": "ships"},
        {"Name": "MODEL_VERSION", "Value": "2"},
        {"Name": "ARTIFACT_URI", "Value": "s3://mlops-artifacts/serving/ships/ships-2.zip?versionId=v1"},
        {"Name": "ARTIFACT_KIND", "Value": "zip"},
        {"Name": "ARTIFACT_SHA256", "Value": "ab" * 32},
        {"Name": "RUN_ID", "Value": "run2"},
    ]
    return evaluate.handle(
        {"execution": EXECUTION, "input": TRIGGER, "build": {"build_id": "b", "exported": exported}}, deps
    )


def test_report_start_creates_thread(deps: Deps) -> None:
    report.handle({"execution": EXECUTION, "input": TRIGGER, "step": "Pipeline", "status": "STARTED"}, deps)
    run = deps.runs.get(EXECUTION)
    assert run is not None
    assert run.slack_thread_ts
    assert run.commit == TRIGGER["commit"]


def test_report_failure_summarises_lambda_error(deps: Deps) -> None:
    cause = json.dumps({"errorType": "DeploymentError", "errorMessage": "image not found"})
    report.handle(
        {
            "execution": EXECUTION,
            "input": TRIGGER,
            "step": "DeployStage",
            "status": "FAILED",
            "error": {"Error": "DeploymentError", "Cause": cause},
        },
        deps,
    )
    texts = [m["text"] for m in deps.notifier.messages.values()]
    assert any("DeploymentError: image not found" in t for t in texts)
    assert deps.runs.get(EXECUTION).status == "FAILED"


def test_evaluate_first_model_passes(deps: Deps) -> None:
    out = model(deps)
    assert out["passed"] is True
    assert out["author_email"] == "ds@example.com"
    assert deps.runs.get(EXECUTION).version == "2"


def test_deploy_smoke_promote_stage(deps: Deps) -> None:
    m = model(deps)
    d = deploy.handle({"execution": EXECUTION, "environment": "stage", "model": m}, deps)
    assert d["previous_version"] == "1"
    assert d["new_version"] == "2"
    stage = fake_deployer(deps, "stage")
    stage.invoke_result = InvokeResult(200, {"predictions": [3.0]}, None, 5.0, "2")
    s = smoke_test.handle({"execution": EXECUTION, "environment": "stage", "model": m, "deploy": d}, deps)
    assert s["passed"] is True
    assert stage.invocations == [{"inputs": [{"a": 1.0}]}]
    p = promote.handle({"execution": EXECUTION, "environment": "stage", "model": m, "deploy": d}, deps)
    assert p["alias"] == "staging"
    assert deps.registry.get_by_alias("ships", "staging").version == "2"
    assert deps.registry.get_version("ships", "2").tags["stage_lambda_version"] == "2"
    assert deps.locks.locks == {}


def test_failed_smoke_raises_stable_error_and_rollback_restores(deps: Deps) -> None:
    m = model(deps)
    d = deploy.handle({"execution": EXECUTION, "environment": "stage", "model": m}, deps)
    stage = fake_deployer(deps, "stage")
    stage.invoke_result = InvokeResult(
        200, {"errorType": "KeyError", "errorMessage": "x"}, "Unhandled", 5.0, "2"
    )
    with pytest.raises(SmokeTestFailedError, match="KeyError"):
        smoke_test.handle({"execution": EXECUTION, "environment": "stage", "model": m, "deploy": d}, deps)
    out = rollback.handle(
        {
            "execution": EXECUTION,
            "environment": "stage",
            "model": m,
            "deploy": d,
            "error": {"Error": "SmokeTestFailedError", "Cause": "{}"},
        },
        deps,
    )
    assert out["rolled_back_to"] == "1"
    assert stage.alias == "1"


@pytest.mark.parametrize(("prod_push", "stale"), [(PUSHED + 1, True), (PUSHED - 1, False)])
def test_prod_refuses_a_commit_pushed_before_what_it_runs(deps: Deps, prod_push: int, stale: bool) -> None:
    # The registry's git_commit_time (2000, written by the pusher) plays no part: push order does.
    m = model(deps)
    assert m["commit_time"] == PUSHED
    deps.deployment.deployed.put(
        DeployedState("prod", "f" * 40, prod_push, "ships", "5", "other", deps.clock.now())
    )
    event = {"execution": EXECUTION, "environment": "prod", "model": m, "approval": approved(deps, m)}
    if stale:
        with pytest.raises(StaleCommitError):
            deploy.handle(event, deps)
        assert fake_deployer(deps, "prod").alias == "1"
    else:
        assert deploy.handle(event, deps)["new_version"] == "2"


def approved(deps: Deps, m: dict[str, Any]) -> dict[str, Any]:
    """RequestApproval's output once an allowed approver clicked Approve."""
    out = _request(deps, m)
    _click(deps, out["approval_id"], "UAPPROVER")
    return {"approval_id": out["approval_id"]}


def _request(deps: Deps, m: dict[str, Any]) -> dict[str, Any]:
    return request_approval.handle(
        {
            "token": "TASKTOKEN",
            "execution": EXECUTION,
            "input": TRIGGER,
            "model": m,
            "stage": {"deploy": {"new_version": "2"}, "smoke": {"latency_ms": 4.0, "rows": 1}},
        },
        deps,
    )


def _click(
    deps: Deps,
    approval_id: str,
    user: str,
    action: str = "approve",
    ts: int | None = None,
    secret: str = SECRET,
    b64: bool = False,
    body: bytes | None = None,
) -> dict[str, Any]:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T1"},
        "team": {"id": "T1"},
        "channel": {"id": "CPIPE"},
        "container": {"message_ts": "1.1", "channel_id": "CPIPE"},
        "message": {"ts": "1.1"},
        "response_url": "https://hooks.slack.invalid/x",
        "trigger_id": "t",
        "actions": [
            {"action_id": action, "value": approval_id, "block_id": "b", "type": "button", "action_ts": "1"}
        ],
    }
    raw = body if body is not None else urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = ts if ts is not None else int(deps.clock.now().timestamp())
    headers = sign(raw, secret, timestamp)
    event = {
        "version": "2.0",
        "headers": {k.lower(): v for k, v in headers.items()},
        "body": base64.b64encode(raw).decode() if b64 else raw.decode(),
        "isBase64Encoded": b64,
        "requestContext": {"requestId": "r"},
    }
    return slack_interactions.handle(event, deps)


def test_approval_round_trip(deps: Deps) -> None:
    m = model(deps)
    out = _request(deps, m)
    stored = deps.approvals_store.get(out["approval_id"])
    assert stored.task_token == "TASKTOKEN"
    assert "TASKTOKEN" not in json.dumps(deps.notifier.messages)
    assert _click(deps, out["approval_id"], "UAPPROVER", b64=True)["statusCode"] == 200
    assert deps.approvals_store.get(out["approval_id"]).status is ApprovalStatus.APPROVED
    assert deps.callbacks.successes[0][0] == "TASKTOKEN"
    # Double click: same answer, one decision.
    assert _click(deps, out["approval_id"], "UAPPROVER")["statusCode"] == 200
    assert len({t for t, _ in deps.callbacks.successes}) == 1


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"secret": "forged-secret"}, 401),
        ({"ts": 1_000_000_000}, 401),  # stale (and a replay of an old request)
        ({"ts": 4_000_000_000}, 401),  # from the future
        ({"body": b"payload=%7Bnot-json"}, 400),
        ({"body": b"nothing=here"}, 400),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(deps: Deps, kwargs: dict[str, Any], status: int) -> None:
    out = _request(deps, model(deps))
    assert _click(deps, out["approval_id"], "UAPPROVER", **kwargs)["statusCode"] == status
    assert deps.approvals_store.get(out["approval_id"]).status is ApprovalStatus.PENDING
    assert deps.callbacks.successes == []
    assert deps.callbacks.failures == []


def test_unsigned_request_is_refused(deps: Deps) -> None:
    out = _request(deps, model(deps))
    event = {"headers": {}, "body": "payload=%7B%7D", "isBase64Encoded": False}
    assert slack_interactions.handle(event, deps)["statusCode"] == 401
    assert deps.approvals_store.get(out["approval_id"]).status is ApprovalStatus.PENDING


@pytest.mark.parametrize(("user", "reason"), [("UOTHER", "not on the list"), ("UAUTHOR", "author may not")])
def test_refused_approver_gets_ephemeral_and_nothing_changes(deps: Deps, user: str, reason: str) -> None:
    deps.env = {**ENV, "APPROVERS": "UAPPROVER,UAUTHOR"}
    out = _request(deps, model(deps))
    assert _click(deps, out["approval_id"], user)["statusCode"] == 200
    assert reason in deps.notifier.ephemerals[-1]["text"]
    assert deps.approvals_store.get(out["approval_id"]).status is ApprovalStatus.PENDING


def test_reject_and_expire(deps: Deps) -> None:
    m = model(deps)
    out = _request(deps, m)
    _click(deps, out["approval_id"], "UAPPROVER", action="reject")
    assert deps.callbacks.failures[0][1] == "ModelRejected"
    other = EXECUTION + "-2"
    second = request_approval.handle({"token": "T2", "execution": other, "input": TRIGGER, "model": m}, deps)
    # Expire marks only the timed-out execution's approval.
    assert expire_approval.handle({"execution": other, "model": m}, deps)["expired"] == [
        second["approval_id"]
    ]
    assert deps.approvals_store.get(out["approval_id"]).status is ApprovalStatus.REJECTED


def _sns(detail: dict[str, Any]) -> dict[str, Any]:
    message = {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": detail,
    }
    return {
        "Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message), "MessageId": "m1"}}]
    }


def test_notify_reports_untold_outcomes_once(deps: Deps) -> None:
    report.handle({"execution": EXECUTION, "input": TRIGGER, "step": "Pipeline", "status": "STARTED"}, deps)
    assert notify.handle(
        _sns({"executionArn": EXECUTION, "status": "ABORTED", "input": json.dumps(TRIGGER)}), deps
    ) == {"posted": 1}
    assert deps.runs.get(EXECUTION).status == "ABORTED"
    report.handle({"execution": EXECUTION, "input": TRIGGER, "step": "Pipeline", "status": "SUCCEEDED"}, deps)
    assert notify.handle(_sns({"executionArn": EXECUTION, "status": "SUCCEEDED"}), deps) == {"posted": 0}
    assert notify.handle(_sns({"executionArn": EXECUTION, "status": "RUNNING"}), deps) == {"posted": 0}


def test_registry_wiring_bounds_the_mlflow_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Deps builds the MLflow registry from documented settings only."""
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.setenv(name, "unset")  # records the original, so the wiring's write is undone
        monkeypatch.delenv(name)
    registry = Deps(env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}).registry
    assert type(registry).__name__ == "MlflowRegistry"
    import os

    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"
