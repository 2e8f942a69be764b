"""Parsing of block_actions payloads: the happy path and every refusal."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_pipeline.adapters.slack.errors import BadRequestError
from mlops_pipeline.adapters.slack.interactions import MAX_BODY_BYTES, BlockAction, parse_block_action

APPROVAL_ID = "appr_0123456789abcdef"


def payload(**override: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U0APPROVER", "username": "approver", "name": "approver", "team_id": "T0LOCAL"},
        "team": {"id": "T0LOCAL", "domain": "local"},
        "channel": {"id": "C0PIPELINE", "name": "mlops-pipeline"},
        "container": {"type": "message", "message_ts": "1800000000.000100", "channel_id": "C0PIPELINE"},
        "message": {"ts": "1800000000.000100", "text": "Approval needed"},
        "response_url": "https://hooks.slack.com/actions/T0LOCAL/1/abc",
        "trigger_id": "1.2.3",
        "actions": [
            {
                "action_id": "approve",
                "block_id": "approval_actions",
                "value": APPROVAL_ID,
                "type": "button",
                "action_ts": "1800000001.0",
            }
        ],
    }
    data.update(override)
    return data


def form(data: Any) -> bytes:
    return urlencode({"payload": json.dumps(data)}).encode()


def test_a_click_parses() -> None:
    assert parse_block_action(form(payload())) == BlockAction(
        action_id="approve",
        approval_id=APPROVAL_ID,
        user_id="U0APPROVER",
        user_name="approver",
        team_id="T0LOCAL",
        channel_id="C0PIPELINE",
        message_ts="1800000000.000100",
        response_url="https://hooks.slack.com/actions/T0LOCAL/1/abc",
    )


def test_reject_parses_and_optional_fields_fall_back() -> None:
    data = payload(
        user={"id": "U0OTHER", "name": "other"},
        channel=None,
        team={"id": "T9"},
        actions=[{"action_id": "reject", "value": APPROVAL_ID, "type": "button"}],
    )
    del data["response_url"]
    action = parse_block_action(form(data))
    assert (action.action_id, action.user_name, action.team_id) == ("reject", "other", "T9")
    assert (action.channel_id, action.response_url) == ("C0PIPELINE", "")


def one_action(**fields: Any) -> dict[str, Any]:
    return payload(actions=[{"action_id": "approve", "value": APPROVAL_ID, "type": "button", **fields}])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no payload field"),
        (b"token=abc&user=U1", "no payload field"),
        (b"payload=" + b"a" * 10 + b"&payload=b", "more than one payload"),
        (b"payload=%7Bnot-json", "not valid JSON"),
        (b"payload=" + b"%5B" * 20_000, "not valid JSON"),
        (form([1, 2]), "not a JSON object"),
        (form(payload(type="view_submission")), "view_submission"),
        (form(payload(type=None)), "NoneType"),
        (form(payload(actions=[])), "no actions"),
        (form(payload(actions="approve")), "no actions"),
        (form(payload(actions=[{}, {}])), "2 actions"),
        (form(one_action(action_id="deploy_everything")), "unknown action_id"),
        (form(one_action(action_id=["approve"])), "unknown action_id"),
        (form(one_action(type="static_select")), "not a button"),
        (form(one_action(value="short")), "approval id"),
        (form(one_action(value="../../etc/passwd")), "approval id"),
        (form(one_action(value="x" * 65)), "approval id"),
        (form(one_action(value=None)), "approval id"),
        (form(one_action(value=12345678901)), "approval id"),
        (form(payload(user={"name": "nobody"})), "no user id"),
        (form(payload(user="U0APPROVER")), "no user id"),
        (form(payload(user={"id": "U0 <script>"})), "user id is malformed"),
        (b"payload=\xff", "not UTF-8"),
        (b"payload=" + b"x" * MAX_BODY_BYTES, "too large"),
        (b"&".join([b"a=1"] * 60), "too many fields"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(BadRequestError, match=reason):
        parse_block_action(body)


def test_body_at_the_limit_is_still_parsed() -> None:
    body = form(payload())
    padded = body + b"&pad=" + b"x" * (MAX_BODY_BYTES - len(body) - 5)
    assert len(padded) == MAX_BODY_BYTES
    assert parse_block_action(padded).approval_id == APPROVAL_ID


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def mutated_payloads() -> st.SearchStrategy[Any]:
    """Slack-shaped payloads with arbitrary values put in random places."""
    keys = st.sampled_from(
        ["type", "user", "actions", "team", "channel", "container", "message", "response_url"]
    )
    action_keys = st.sampled_from(["action_id", "value", "type", "block_id"])
    return st.one_of(
        JSON,
        st.builds(lambda k, v: payload(**{k: v}), keys, JSON),
        st.builds(lambda k, v: one_action(**{k: v}), action_keys, JSON),
    )


def parse_or_none(body: bytes) -> BlockAction | None:
    """The parsed click, or None for a BadRequestError; any other exception fails the test."""
    try:
        return parse_block_action(body)
    except BadRequestError as exc:
        if not str(exc):
            raise AssertionError("BadRequestError without a reason") from exc
        return None


def assert_well_formed(action: BlockAction | None) -> None:
    if action is None:
        return
    assert action.action_id in {"approve", "reject"}
    assert 8 <= len(action.approval_id) <= 64
    assert action.user_id
    assert all(isinstance(v, str) for v in vars(action).values())


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_bad_request(body: bytes) -> None:
    assert_well_formed(parse_or_none(body))


@settings(max_examples=150, deadline=None)
@given(mutated_payloads())
def test_arbitrary_json_payloads_parse_or_raise_bad_request(data: Any) -> None:
    assert_well_formed(parse_or_none(form(data)))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_payload_text_only_ever_raises_bad_request(text: str) -> None:
    assert_well_formed(parse_or_none(urlencode({"payload": text}).encode()))


def test_the_fuzzed_shape_does_reach_the_success_path() -> None:
    # Guards the property tests above against only ever exercising refusals.
    assert_well_formed(parse_or_none(form(one_action(block_id=None))))
    assert parse_or_none(form(one_action(block_id=None))) is not None
