"""DeployProd re-checks the approval record itself: the state machine's word is not enough."""

from typing import Any

import pytest

from mlops_pipeline.domain.errors import ApprovalRequiredError
from mlops_pipeline.handlers import deploy
from mlops_pipeline.handlers._runtime import Deps
from tests.unit.handlers.test_handlers import EXECUTION, _request, approved, deps, fake_deployer, model

__all__ = ["deps"]  # the fixture, shared with test_handlers


def prod_event(m: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"execution": EXECUTION, "environment": "prod", "model": m, **extra}


@pytest.mark.parametrize(
    "extra",
    [
        {},  # a direct invoke with a made-up input: no approval at all
        {"approval": {"approval_id": "made-up"}},
        {"approval": {"approval_id": "x" * 5000}},
        {"approval": "approved, trust me"},
        {"approval": {"approved_by": "UAPPROVER"}},
    ],
)
def test_a_direct_prod_deploy_without_an_approval_is_refused(deps: Deps, extra: dict[str, Any]) -> None:
    m = model(deps)
    with pytest.raises(ApprovalRequiredError, match="prod not touched"):
        deploy.handle(prod_event(m, **extra), deps)
    assert fake_deployer(deps, "prod").alias == "1"
    assert deps.locks.locks == {}  # refused before the lock


def test_a_forged_task_success_with_the_cards_pending_approval_id_cannot_deploy(deps: Deps) -> None:
    """The approval id is on the card for all to see; SendTaskSuccess with it proves nothing."""
    m = model(deps)
    pending = _request(deps, m)["approval_id"]
    forged = {"approval_id": pending, "approved_by": "UAPPROVER", "approved_at": "2026-11-26T12:00:00Z"}
    with pytest.raises(ApprovalRequiredError, match="PENDING, not APPROVED"):
        deploy.handle(prod_event(m, approval=forged), deps)
    assert fake_deployer(deps, "prod").alias == "1"


def test_an_approval_of_another_execution_or_version_cannot_deploy(deps: Deps) -> None:
    m = model(deps)
    approval = approved(deps, m)
    with pytest.raises(ApprovalRequiredError, match="another execution"):
        deploy.handle({**prod_event(m, approval=approval), "execution": EXECUTION + "-other"}, deps)
    with pytest.raises(ApprovalRequiredError, match="not ships v3"):
        deploy.handle(prod_event({**m, "model_version": "3"}, approval=approval), deps)
    assert fake_deployer(deps, "prod").alias == "1"
    assert deploy.handle(prod_event(m, approval=approval), deps)["new_version"] == "2"


def test_stage_needs_no_approval(deps: Deps) -> None:
    m = model(deps)
    assert deploy.handle({"execution": EXECUTION, "environment": "stage", "model": m}, deps)["new_version"]
