from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mlops_pipeline.domain.errors import ApprovalRequiredError
from mlops_pipeline.domain.models import APPROVE, REJECT, Approval, ApprovalStatus, Decision
from mlops_pipeline.domain.policy import ApprovalPolicy, check_prod_approval, required_approvals

AT = datetime(2026, 1, 1, tzinfo=UTC)
APPROVAL = Approval(
    id="abcdefgh12",
    task_token="tok",
    execution="arn:exec",
    model="m",
    version="2",
    commit="0123456789abcdef",
    author="arn:aws:iam::111111111111:user/dana",
    requested_at=AT,
    expires_at=datetime(2026, 1, 2, tzinfo=UTC),
    author_slack_id="U9",
)
UNRESOLVED = replace(APPROVAL, author_slack_id=None, required_approvals=2)


def test_allow_list_member_may_approve() -> None:
    assert ApprovalPolicy(frozenset({"U1"})).refusal("U1", APPROVAL) is None


def test_outsider_is_refused() -> None:
    assert "not on the list" in (ApprovalPolicy(frozenset({"U1"})).refusal("U2", APPROVAL) or "")


def test_group_member_may_approve() -> None:
    policy = ApprovalPolicy(allowed_group="S1")
    assert policy.refusal("U5", APPROVAL, frozenset({"U5"})) is None
    assert policy.refusal("U6", APPROVAL, frozenset({"U5"})) is not None


def test_author_may_not_approve_own_model_unless_allowed_but_may_reject_it() -> None:
    strict = ApprovalPolicy(frozenset({"U9"}))
    reason = strict.refusal("U9", APPROVAL)
    assert reason and "author may not approve" in reason and "01234567" in reason
    assert strict.refusal("U9", APPROVAL, action=REJECT) is None
    lenient = ApprovalPolicy(frozenset({"U9"}), allow_self_approval=True)
    assert lenient.refusal("U9", APPROVAL) is None


def test_the_author_is_the_resolved_id_never_the_principal_or_git_email() -> None:
    # Only the Slack id resolved at request time identifies the author.
    odd = replace(APPROVAL, author="U1", git_author="U1", author_slack_id="U9")
    assert ApprovalPolicy(frozenset({"U1"})).refusal("U1", odd) is None


def test_nobody_may_approve_without_configuration() -> None:
    assert "No approvers are configured" in (ApprovalPolicy().refusal("U1", APPROVAL) or "")


@pytest.mark.parametrize(
    ("configured", "resolved", "expected"), [(1, True, 1), (1, False, 2), (3, False, 3), (3, True, 3)]
)
def test_required_approvals_is_the_setting_raised_to_two_for_an_unknown_author(
    configured: int, resolved: bool, expected: int
) -> None:
    assert required_approvals(configured, resolved) == expected


def test_self_approval_never_lowers_the_quorum_of_an_unresolved_author() -> None:
    lenient = ApprovalPolicy(frozenset({"U1"}), allow_self_approval=True)
    assert lenient.required_for(UNRESOLVED) == 2
    # Even a record that somehow asked for one approval: an unresolved author needs two.
    assert lenient.required_for(replace(UNRESOLVED, required_approvals=1)) == 2
    assert ApprovalPolicy(frozenset({"U1"}), required_approvals=3).required_for(APPROVAL) == 3
    assert ApprovalPolicy(frozenset({"U1"})).required_for(replace(APPROVAL, required_approvals=4)) == 4


@pytest.mark.parametrize("bad", [0, 6, -1])
def test_required_approvals_is_bounded(bad: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.5"):
        ApprovalPolicy(frozenset({"U1"}), required_approvals=bad)


def approved(*users: str, **changes: object) -> Approval:
    decisions = tuple(Decision(u, APPROVE, AT) for u in users)
    base = replace(APPROVAL, decisions=decisions).with_status(ApprovalStatus.APPROVED, users[-1], AT)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_prod_needs_the_approved_record_of_this_execution_and_version() -> None:
    record = approved("U1")
    assert check_prod_approval(record, record.id, "arn:exec", "m", "2") is record


@pytest.mark.parametrize(
    ("record", "approval_id", "execution", "version", "why"),
    [
        (None, "", "arn:exec", "2", "names no approval"),
        (None, "made-up", "arn:exec", "2", "no approval record"),
        (APPROVAL, APPROVAL.id, "arn:exec", "2", "PENDING, not APPROVED"),
        (approved("U1", status=ApprovalStatus.CANCELLED), APPROVAL.id, "arn:exec", "2", "CANCELLED"),
        (approved("U1"), APPROVAL.id, "arn:other-exec", "2", "another execution"),
        (approved("U1"), APPROVAL.id, "arn:exec", "3", "approved m v2, not m v3"),
        (approved("U1", required_approvals=2), APPROVAL.id, "arn:exec", "2", "1 of 2 approvals"),
    ],
)
def test_prod_refuses_anything_else(
    record: Approval | None, approval_id: str, execution: str, version: str, why: str
) -> None:
    with pytest.raises(ApprovalRequiredError, match=why):
        check_prod_approval(record, approval_id, execution, "m", version)
