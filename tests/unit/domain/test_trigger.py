"""The execution input's trusted facts: who pushed, and when (the trigger event's time)."""

from datetime import UTC, datetime

import pytest

from mlops_pipeline.domain.trigger import push_time, pushed_at, trigger_author


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-26T12:00:00Z", datetime(2026, 11, 26, 12, tzinfo=UTC)),  # EventBridge's format
        ("2026-11-26T13:00:00+01:00", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("2026-11-26T12:00:00", datetime(2026, 11, 26, 12, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (1_795_694_400, None),
        (None, None),
    ],
)
def test_pushed_at_is_the_event_time(raw: object, expected: datetime | None) -> None:
    assert pushed_at({"pushed_at": raw}) == expected


def test_push_time_orders_commits_and_unknown_is_zero() -> None:
    assert push_time({"pushed_at": "2026-11-26T12:00:00Z"}) == 1_795_694_400
    assert push_time({}) == push_time(None) == 0


def test_the_author_is_the_triggers_principal_only() -> None:
    assert trigger_author({"author": " arn:aws:iam::1:user/dana "}) == "arn:aws:iam::1:user/dana"
    assert trigger_author({"author_email": "ds@example.com"}) == ""
    assert trigger_author({"author": ["x"]}) == trigger_author(None) == ""
