"""Who may decide an approval."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_pipeline.domain.models import Approval


@dataclass(frozen=True)
class ApprovalPolicy:
    """Allow list of Slack user ids and/or one user group; no self-approval unless allowed.

    With neither an allow list nor a group configured nobody may approve: a pipeline
    that silently lets anyone in the channel ship to prod is the failure to avoid.
    """

    allowed_users: frozenset[str] = frozenset()
    allowed_group: str | None = None
    allow_self_approval: bool = False

    def refusal(
        self,
        user_id: str,
        approval: Approval,
        author_slack_id: str | None,
        group_members: frozenset[str] = frozenset(),
    ) -> str | None:
        """None when ``user_id`` may decide ``approval``, else the reason shown to the user."""
        if not self.allowed_users and not self.allowed_group:
            return "No approvers are configured for this pipeline (APPROVERS / APPROVER_GROUP)."
        in_list = user_id in self.allowed_users
        in_group = bool(self.allowed_group) and user_id in group_members
        if not (in_list or in_group):
            return "You are not on the list of approvers for this pipeline."
        if not self.allow_self_approval and author_slack_id and user_id == author_slack_id:
            return (
                f"You committed {approval.commit[:8]}: the author may not approve their own model "
                "(ALLOW_SELF_APPROVAL is off)."
            )
        return None
