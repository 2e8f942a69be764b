"""Who may decide an approval, how many must approve, and what prod needs before a deploy."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_pipeline.domain.errors import ApprovalRequiredError
from mlops_pipeline.domain.models import APPROVE, Approval, ApprovalStatus

APPROVAL_ENVIRONMENTS = frozenset({"prod"})  # a deploy there needs an APPROVED record
MAX_REQUIRED_APPROVALS = 5
UNRESOLVED_AUTHOR_APPROVALS = 2  # nobody can tell whether a lone approver is the author


def required_approvals(configured: int, author_resolved: bool) -> int:
    """max(REQUIRED_APPROVALS, 2 if the author is unresolved else 1)."""
    return max(configured, 1 if author_resolved else UNRESOLVED_AUTHOR_APPROVALS)


def check_required_approvals(value: int) -> int:
    if not 1 <= value <= MAX_REQUIRED_APPROVALS:
        raise ValueError(f"REQUIRED_APPROVALS must be 1..{MAX_REQUIRED_APPROVALS}, not {value}")
    return value


@dataclass(frozen=True)
class ApprovalPolicy:
    """Allow list of Slack user ids and/or one user group; quorum; no self-approval unless allowed.

    With neither an allow list nor a group configured nobody may approve: a pipeline
    that silently lets anyone in the channel ship to prod is the failure to avoid.
    ``allow_self_approval`` can only ever apply to a resolved author: an unresolved one is
    nobody in particular, so the two-approver rule stands regardless.
    """

    allowed_users: frozenset[str] = frozenset()
    allowed_group: str | None = None
    allow_self_approval: bool = False
    required_approvals: int = 1

    def __post_init__(self) -> None:
        check_required_approvals(self.required_approvals)

    def required_for(self, approval: Approval) -> int:
        """Approvals the request needs now: what it was created with, raised by today's setting."""
        return max(
            approval.required_approvals,
            required_approvals(self.required_approvals, approval.author_resolved),
        )

    def refusal(
        self,
        user_id: str,
        approval: Approval,
        group_members: frozenset[str] = frozenset(),
        action: str = APPROVE,
    ) -> str | None:
        """None when ``user_id`` may take ``action`` on ``approval``, else the reason shown to the user.

        The author (as resolved when the approval was requested) may reject their own model,
        never approve it unless ``allow_self_approval``.
        """
        if not self.allowed_users and not self.allowed_group:
            return "No approvers are configured for this pipeline (APPROVERS / APPROVER_GROUP)."
        in_list = user_id in self.allowed_users
        in_group = bool(self.allowed_group) and user_id in group_members
        if not (in_list or in_group):
            return "You are not on the list of approvers for this pipeline."
        is_author = approval.author_resolved and user_id == approval.author_slack_id
        if action == APPROVE and is_author and not self.allow_self_approval:
            return (
                f"You pushed {approval.commit[:8]}: the author may not approve their own model "
                "(ALLOW_SELF_APPROVAL is off)."
            )
        return None


def check_prod_approval(
    approval: Approval | None, approval_id: str, execution: str, model: str, version: str
) -> Approval:
    """The approval that lets ``execution`` deploy ``model`` v``version`` to prod.

    ApprovalRequiredError unless the record exists, is APPROVED, belongs to this execution,
    model and version, and holds as many distinct approvals as it required.
    """

    def refuse(why: str) -> ApprovalRequiredError:
        return ApprovalRequiredError(f"prod not touched: {why}")

    if not approval_id:
        raise refuse("the deploy names no approval (approval.approval_id)")
    if approval is None:
        raise refuse(f"no approval record {approval_id!r}")
    if approval.status is not ApprovalStatus.APPROVED:
        raise refuse(f"approval {approval_id} is {approval.status.value}, not APPROVED")
    if approval.execution != execution:
        raise refuse(f"approval {approval_id} belongs to another execution")
    if (approval.model, approval.version) != (model, version):
        raise refuse(
            f"approval {approval_id} approved {approval.model} v{approval.version}, not {model} v{version}"
        )
    if len(approval.approvers) < approval.required_approvals:
        raise refuse(
            f"approval {approval_id} has {len(approval.approvers)} of {approval.required_approvals} approvals"
        )
    return approval
