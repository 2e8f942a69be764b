"""TaskCallbacks contract: FakeCallbacks and StepFunctionsCallbacks (moto's interpreter) answer alike."""

from __future__ import annotations

import pytest

from mlops_pipeline.domain.errors import TaskGoneError

from .backends import CallbacksBackend

pytestmark = pytest.mark.functional


def test_success_completes_the_waiting_task(callbacks_backend: CallbacksBackend) -> None:
    token = callbacks_backend.waiting_token()
    callbacks_backend.callbacks.send_success(token, {"approval_id": "a1", "approved_by": "U1"})
    assert callbacks_backend.outcome(token) == ("SUCCEEDED", {"approval_id": "a1", "approved_by": "U1"})


def test_failure_fails_the_waiting_task_with_the_error(callbacks_backend: CallbacksBackend) -> None:
    token = callbacks_backend.waiting_token()
    callbacks_backend.callbacks.send_failure(token, "ModelRejected", "rejected by U2")
    assert callbacks_backend.outcome(token) == ("FAILED", "ModelRejected")


def test_an_answered_task_is_gone(callbacks_backend: CallbacksBackend) -> None:
    token = callbacks_backend.waiting_token()
    callbacks_backend.callbacks.send_success(token, {"approval_id": "a1"})
    callbacks_backend.outcome(token)
    with pytest.raises(TaskGoneError) as info:
        callbacks_backend.callbacks.send_success(token, {"approval_id": "a1", "again": True})
    assert token not in str(info.value)
    assert callbacks_backend.outcome(token) == ("SUCCEEDED", {"approval_id": "a1"})


def test_a_gone_token_is_task_gone_for_both_answers(callbacks_backend: CallbacksBackend) -> None:
    token = callbacks_backend.gone_token()
    with pytest.raises(TaskGoneError) as info:
        callbacks_backend.callbacks.send_success(token, {"approval_id": "a1"})
    assert info.value.code
    with pytest.raises(TaskGoneError):
        callbacks_backend.callbacks.send_failure(token, "ModelRejected", "x")
