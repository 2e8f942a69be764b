"""A failed build's progress message: its log's last lines in a code block, bounded and escaped."""

from __future__ import annotations

import json

from mlops_pipeline.adapters.slack import views
from mlops_pipeline.domain.models import StepLog


def test_the_lines_are_a_code_block_and_the_location_a_link_or_a_path() -> None:
    link = "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:group=g;stream=s"
    text, blocks = views.progress(
        "Train", "FAILED", "States.TaskFailed", StepLog(link, ("a", "ModuleNotFoundError: x"))
    )
    assert blocks[1]["text"]["text"] == "Last lines of the log:\n```\na\nModuleNotFoundError: x\n```"
    assert blocks[2]["elements"][0]["text"] == f"Full log: <{link}|CloudWatch Logs>"
    assert "ModuleNotFoundError: x" in text and link in text

    _, local = views.progress("Build", "FAILED", "", StepLog("/state/logs/codebuild/b.log", ("boom",)))
    assert local[-1]["elements"][0]["text"] == "Full log: `/state/logs/codebuild/b.log`"


def test_the_code_block_keeps_the_last_lines_within_its_bound() -> None:
    lines = tuple(f"{n:04d} " + "x" * 290 for n in range(20))
    text, blocks = views.progress("Build", "FAILED", "", StepLog("/x.log", lines))
    code = blocks[1]["text"]["text"]
    assert len(code) <= 3000 and len(text) <= 3000
    assert "0019 " in code and "0000 " not in code  # the end of the log is what matters


def test_log_lines_cannot_close_the_block_or_mention_anyone() -> None:
    _, blocks = views.progress("Build", "FAILED", "", StepLog("", ("```", "<!channel> & <https://evil|x>")))
    code = blocks[1]["text"]["text"]
    assert code.count("```") == 2
    assert "<!channel>" not in code and "&lt;!channel&gt; &amp;" in code
    assert len(blocks) == 2  # no location, no context line


def test_an_unreadable_log_is_said_and_no_code_block_is_shown() -> None:
    text, blocks = views.progress(
        "Build", "FAILED", "", StepLog("/x.log", error="the log could not be read (X)")
    )
    dumped = json.dumps(blocks)
    assert "```" not in dumped
    assert "the log could not be read (X)" in dumped and "the log could not be read" in text


def test_without_a_log_the_message_is_one_line() -> None:
    assert len(views.progress("Build", "FAILED", "boom")[1]) == 1
