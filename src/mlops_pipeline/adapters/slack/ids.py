"""The Block Kit ids an approval card carries and a click on it comes back with.

Apart from ``views`` (which renders the card) so that parsing a click needs no slack_sdk.
"""

from __future__ import annotations

__all__ = ["APPROVAL_ACTIONS_BLOCK_ID", "APPROVE_ACTION_ID", "REJECT_ACTION_ID"]

APPROVE_ACTION_ID = "approve"
REJECT_ACTION_ID = "reject"
APPROVAL_ACTIONS_BLOCK_ID = "approval_actions"
