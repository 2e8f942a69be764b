from datetime import UTC, datetime

from mlops_pipeline.domain.models import Approval
from mlops_pipeline.domain.policy import ApprovalPolicy

APPROVAL = Approval(
    id="abcdefgh12",
    task_token="tok",
    execution="arn:exec",
    model="m",
    version="2",
    commit="0123456789abcdef",
    author="ds@example.com",
    requested_at=datetime(2026, 1, 1, tzinfo=UTC),
    expires_at=datetime(2026, 1, 2, tzinfo=UTC),
)


def test_allow_list_member_may_approve() -> None:
    assert ApprovalPolicy(frozenset({"U1"})).refusal("U1", APPROVAL, author_slack_id="U9") is None


def test_outsider_is_refused() -> None:
    assert "not on the list" in (ApprovalPolicy(frozenset({"U1"})).refusal("U2", APPROVAL, None) or "")


def test_group_member_may_approve() -> None:
    policy = ApprovalPolicy(allowed_group="S1")
    assert policy.refusal("U5", APPROVAL, None, frozenset({"U5"})) is None
    assert policy.refusal("U6", APPROVAL, None, frozenset({"U5"})) is not None


def test_author_may_not_approve_own_model_unless_allowed() -> None:
    strict = ApprovalPolicy(frozenset({"U1"}))
    reason = strict.refusal("U1", APPROVAL, author_slack_id="U1")
    assert reason and "author may not approve" in reason and "01234567" in reason
    lenient = ApprovalPolicy(frozenset({"U1"}), allow_self_approval=True)
    assert lenient.refusal("U1", APPROVAL, author_slack_id="U1") is None


def test_nobody_may_approve_without_configuration() -> None:
    assert "No approvers are configured" in (ApprovalPolicy().refusal("U1", APPROVAL, None) or "")
