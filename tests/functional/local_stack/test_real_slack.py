"""Real-Slack mode of the local stack: configuration from the environment, no stand-in, no
secrets in the state file, and approvals sent as Slack's signed payload through the gateway.

A :class:`LocalSlackServer` plays "real Slack" (reached through ``MLOPS_SLACK_API_URL``) with
the same bot token and signing secret the stack is configured with.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore
from mlops_pipeline.adapters.slack.interactions import parse_block_action
from mlops_pipeline.cli.main import app
from mlops_pipeline.local.stack import control
from mlops_pipeline.local.stack.client import StackClient, block_actions_body, card_buttons
from mlops_pipeline.local.stack.errors import LocalStackError, SlackConfigError
from mlops_pipeline.local.stack.harness import LOCAL_PUSHER
from mlops_pipeline.local.stack.slack_config import slack_config_from_env
from mlops_pipeline.local.stack.slack_standin import LocalSlackServer
from mlops_pipeline.local.stack.state import DAEMON_LOG, StackOptions, state_file

pytestmark = pytest.mark.functional

ALL = {
    "MLOPS_SLACK_BOT_TOKEN": "xoxb-test-token",
    "MLOPS_SLACK_SIGNING_SECRET": "s3cr3t-signing",
    "MLOPS_SLACK_CHANNEL": "C0PIPELINE",
}


def test_no_variables_means_the_local_stand_in() -> None:
    assert slack_config_from_env({}) is None


def test_all_three_give_a_config_with_the_default_api_url() -> None:
    config = slack_config_from_env(ALL)
    assert config is not None
    assert (config.bot_token, config.signing_secret, config.channel) == (
        "xoxb-test-token",
        "s3cr3t-signing",
        "C0PIPELINE",
    )
    assert config.api_url == "https://slack.com/api/"
    assert "xoxb-test-token" not in repr(config) and "s3cr3t" not in repr(config)
    custom = slack_config_from_env({**ALL, "MLOPS_SLACK_API_URL": "http://127.0.0.1:9/api"})
    assert custom is not None and custom.api_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize("missing", sorted(ALL))
def test_a_partial_configuration_is_refused(missing: str) -> None:
    partial = {k: v for k, v in ALL.items() if k != missing}
    with pytest.raises(SlackConfigError, match=rf"missing: {missing}"):
        slack_config_from_env(partial)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MLOPS_SLACK_BOT_TOKEN", "xoxp-user-token", "bot token"),
        ("MLOPS_SLACK_CHANNEL", "#pipeline", "channel id"),
        ("MLOPS_SLACK_API_URL", "http://slack.example.com/api/", "https://"),
    ],
)
def test_malformed_values_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(SlackConfigError, match=message):
        slack_config_from_env({**ALL, name: value})


def test_up_refuses_a_partial_configuration_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_SLACK_BOT_TOKEN", "xoxb-only-the-token")
    for name in ("MLOPS_SLACK_SIGNING_SECRET", "MLOPS_SLACK_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["local", "up", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "MLOPS_SLACK_SIGNING_SECRET" in result.output and "MLOPS_SLACK_CHANNEL" in result.output
    assert "xoxb-only-the-token" not in result.output
    assert not (tmp_path / DAEMON_LOG).exists()
    assert not state_file(tmp_path).exists()


def test_the_built_payload_is_what_the_handler_parses_and_verifies() -> None:
    card = {
        "ts": "1700000000.000100",
        "channel": "C0PIPELINE",
        "blocks": [
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "action_id": "approve", "value": "apr-0123456789abcdef"},
                    {"type": "button", "action_id": "reject", "value": "apr-0123456789abcdef"},
                ],
            }
        ],
    }
    body = block_actions_body(card, "reject", "U0APPROVER", "C0OTHER")
    action = parse_block_action(body)
    assert action.approval_id == "apr-0123456789abcdef"
    assert (action.action_id, action.user_id, action.channel_id, action.message_ts) == (
        "reject",
        "U0APPROVER",
        "C0PIPELINE",
        "1700000000.000100",
    )
    with pytest.raises(LocalStackError, match="no approve button"):
        block_actions_body({**card, "blocks": []}, "approve", "U0APPROVER", "C0PIPELINE")


@pytest.fixture
def real_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSlackServer]:
    token = f"xoxb-real-{secrets.token_hex(8)}"
    secret = secrets.token_hex(16)
    server = LocalSlackServer(token, secret)
    server.start()
    monkeypatch.setenv("MLOPS_SLACK_BOT_TOKEN", token)
    monkeypatch.setenv("MLOPS_SLACK_SIGNING_SECRET", secret)
    monkeypatch.setenv("MLOPS_SLACK_CHANNEL", "C0PIPELINE")
    monkeypatch.setenv("MLOPS_SLACK_API_URL", server.api_url)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_slack_mode_posts_to_slack_and_approves_through_the_signed_endpoint(
    tmp_path: Path, real_slack: LocalSlackServer
) -> None:
    state = tmp_path / "state"
    token = slack_config_from_env()
    assert token is not None
    info = control.up(StackOptions(state_dir=state), timeout=240)
    try:
        saved = state_file(state).read_text()
        assert json.loads(saved)["slack_mode"] == "slack"
        assert json.loads(saved)["slack_api_url"] == real_slack.api_url
        assert "slack" not in info.ports and info.slack_inbox_url == ""
        for text in (saved, (state / DAEMON_LOG).read_text()):
            assert token.bot_token not in text and token.signing_secret not in text
        status = CliRunner().invoke(app, ["local", "status", "--state-dir", str(state)])
        assert status.exit_code == 0, status.output
        assert "Slack channel C0PIPELINE" in status.output

        # The pipeline's own approval step (the Lambda the state machine calls) posts to "Slack".
        client = StackClient(info)
        execution = f"{info.state_machine_arn.replace(':stateMachine:', ':execution:')}:run-slack-1"
        event = {
            "token": "task-token-of-a-finished-execution",
            "execution": execution,
            "model": {"model_name": "demo-model", "model_version": "3", "commit": "abc123"},
            # Pushed by the local stack's pusher, whom IDENTITY_MAP resolves: one approval decides.
            "input": {
                "commit": "abc123",
                "repository": "mlops-models",
                "branch": "main",
                "author": LOCAL_PUSHER,
            },
        }
        answer = client.client("lambda").invoke(
            FunctionName="mlops-request-approval", Payload=json.dumps(event).encode()
        )
        assert "FunctionError" not in answer, answer["Payload"].read()
        card = client.approval_card(execution)
        assert card is not None and [b["action_id"] for b in card_buttons(card)] == [
            "approve",
            "reject",
        ]
        run = client.runs().get(execution)
        assert run is not None and run.slack_thread_ts
        thread = client.thread(run.slack_thread_ts)  # read back from "real Slack"
        assert len(thread) >= 2 and thread[0]["ts"] == run.slack_thread_ts
        assert any(m["ts"] == card["ts"] and m.get("blocks") for m in thread)

        # A payload signed with another secret is refused and decides nothing.
        forged = StackClient(info)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MLOPS_SLACK_SIGNING_SECRET", "not-the-secret")
            code, _ = forged.send_interaction(card, "approve", "U0APPROVER")
        assert code == 401
        assert client.approval_card(execution) is not None

        # Nothing waits on this task token (as for a finished or stopped execution): the click is
        # refused, the approval ends CANCELLED with the reason, and its card loses the buttons.
        approve = CliRunner().invoke(app, ["local", "approve", execution, "--state-dir", str(state)])
        assert approve.exit_code == 0, approve.output
        assert "signed interaction" in approve.output
        assert client.approval_card(execution) is None
        decided = DynamoApprovalStore(info.table, client=client.client("dynamodb")).get(card["approval_id"])
        assert decided is not None and decided.status.value == "CANCELLED"
        assert "no longer waits" in decided.reason and decided.decided_by is None
        assert [(d.user, d.action) for d in decided.decisions] == [("U0APPROVER", "approve")]
        told = [e.text for e in real_slack.ephemerals() if e.user == "U0APPROVER"]
        assert told and "no longer waiting" in told[-1]
        again = CliRunner().invoke(app, ["local", "approve", execution, "--state-dir", str(state)])
        assert again.exit_code == 1 and "no pending approval" in again.output
    finally:
        report = control.down(state)
    assert report.leftovers == []
