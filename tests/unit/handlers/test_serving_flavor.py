"""How the model is served (and why it fell back from ONNX) reaches the thread, the run record and the card."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_pipeline.domain.errors import ModelNotFoundError
from mlops_pipeline.domain.evaluation import serving_summary
from mlops_pipeline.handlers import evaluate, request_approval
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import (
    FakeApprovalStore,
    FakeCallbacks,
    FakeClock,
    FakeDeployedStateStore,
    FakeLockStore,
    FakeNotifier,
    FakeRegistry,
    FakeRunStore,
)

EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-7"
COMMIT = "c0ffee" * 6 + "abcd"
TRIGGER = {"commit": COMMIT, "repository": "models", "branch": "main", "author": "arn:aws:iam::1:user/dana"}
ENV = {
    "MLOPS_TABLE": "t",
    "SLACK_CHANNEL": "CPIPE",
    "APPROVERS": "UAPPROVER",
    "APPROVAL_TIMEOUT_SECONDS": "3600",
}
EXPORTED = [
    {"Name": "MODEL_NAME", "Value": "ships"},
    {"Name": "MODEL_VERSION", "Value": "2"},
    {"Name": "ARTIFACT_URI", "Value": "s3://mlops-artifacts/serving/ships/ships-2.zip?versionId=v1"},
    {"Name": "ARTIFACT_KIND", "Value": "zip"},
    {"Name": "ARTIFACT_SHA256", "Value": "ab" * 32},
    {"Name": "RUN_ID", "Value": "run2"},
]
REASON = "onnx export failed: no converter for KernelRidge"


def make_deps(**tags: str) -> Deps:
    registry = FakeRegistry()
    if tags:
        registry.add("ships", "2", {"rmse": 9.0}, git_commit=COMMIT, **tags)
    return Deps(
        env=ENV,
        clock=FakeClock(),
        approvals_store=FakeApprovalStore(),
        runs=FakeRunStore(),
        locks=FakeLockStore(),
        deployed=FakeDeployedStateStore(),
        notifier=FakeNotifier(),
        registry=registry,
        callbacks=FakeCallbacks(),
        slack_bot_token="xoxb-test",
        slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5",
    )


def run_evaluate(deps: Deps) -> dict[str, Any]:
    return evaluate.handle({"execution": EXECUTION, "input": TRIGGER, "build": {"exported": EXPORTED}}, deps)


def thread_texts(deps: Deps) -> list[str]:
    assert isinstance(deps.notifier, FakeNotifier)
    return [m["text"] + json.dumps(m["blocks"]) for m in deps.notifier.messages.values()]


def build_step(deps: Deps) -> str:
    run = deps.runs.get(EXECUTION)
    assert run is not None
    return next(s.detail for s in run.steps if s.step == "Build")


def test_serving_summary() -> None:
    assert serving_summary("onnx") == "onnx"
    assert serving_summary("onnx", "") == "onnx"
    assert serving_summary("skops", REASON) == f"skops (fallback: {REASON})"
    assert serving_summary("", REASON) == "" and serving_summary(None) == ""


def test_a_fallback_and_its_reason_reach_the_build_step_the_run_record_and_the_thread() -> None:
    deps = make_deps(serving_flavor="skops", serving_fallback_reason=REASON)
    out = run_evaluate(deps)
    assert (out["serving_flavor"], out["serving_fallback_reason"]) == ("skops", REASON)
    assert build_step(deps).endswith(f"serving skops (fallback: {REASON})")
    run = deps.runs.get(EXECUTION)
    assert run is not None and (run.serving_flavor, run.serving_fallback_reason) == ("skops", REASON)
    assert any("Build" in t and f"skops (fallback: {REASON})" in t for t in thread_texts(deps))


def test_an_onnx_model_says_onnx_and_no_reason() -> None:
    deps = make_deps(serving_flavor="onnx")
    run_evaluate(deps)
    assert build_step(deps).endswith("serving onnx")
    run = deps.runs.get(EXECUTION)
    assert run is not None and (run.serving_flavor, run.serving_fallback_reason) == ("onnx", "")


def test_the_build_is_still_reported_when_the_gate_cannot_read_the_version() -> None:
    deps = make_deps()  # nothing registered: evaluate fails, the build itself succeeded
    with pytest.raises(ModelNotFoundError):
        run_evaluate(deps)
    assert build_step(deps).startswith("ships v2 registered") and ", serving " not in build_step(deps)


def test_the_approval_card_shows_the_flavour_and_the_fallback_reason() -> None:
    deps = make_deps(serving_flavor="skops", serving_fallback_reason=REASON)
    model = run_evaluate(deps)
    out = request_approval.handle(
        {"token": "TASKTOKEN", "execution": EXECUTION, "input": TRIGGER, "model": model, "stage": {}}, deps
    )
    assert isinstance(deps.notifier, FakeNotifier)
    card = json.dumps(deps.notifier.messages[out["ts"]]["blocks"])
    assert f"*Serving* skops (fallback: {REASON})" in card
