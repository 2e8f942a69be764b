"""A build that fails with a Python error: the thread, the run record and the log say why (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.asl.conftest import Pipeline

pytestmark = [pytest.mark.asl, pytest.mark.slow]

ERROR_LINE = "ModuleNotFoundError: No module named 'sklearn_but_misspelt'"


def test_a_failing_build_reports_its_last_log_lines_and_the_log_file(pipeline: Pipeline) -> None:
    commit = pipeline.commit({"name": "missing-dep", "metrics": {"rmse": 3.0}, "fail": "ModuleNotFoundError"})
    stage_before = pipeline.live("stage", "missing-dep")
    execution = pipeline.stack.start(commit)
    result = pipeline.stack.wait(execution)
    assert result["status"] == "FAILED", pipeline.stack.states(execution)
    assert pipeline.live("stage", "missing-dep") == stage_before

    # The run record: the failed CodeBuild step (whichever it is) with its log's end and location.
    run = pipeline.runs.get(execution)
    assert run is not None and run.status == "FAILED"
    logged = [s for s in run.steps if s.log is not None]
    assert len(logged) == 1, run.steps
    failed = logged[0]
    assert failed.status == "FAILED" and failed.step in pipeline.stack.states(execution)
    assert failed.log is not None and failed.log.error == ""
    assert failed.log.lines[-1] == ERROR_LINE
    assert any(line.startswith("Traceback") for line in failed.log.lines)
    log_file = Path(failed.log.location)
    assert log_file.is_file() and ERROR_LINE in log_file.read_text()  # the whole log, locally

    # The thread's last message is that failure, with the lines in a code block and the file.
    last = pipeline.thread(execution)[-1]
    assert ERROR_LINE in last.text
    assert f"Full log: `{log_file}`" in last.text
    code = [
        b["text"]["text"] for b in last.blocks if b.get("type") == "section" and "```" in b["text"]["text"]
    ]
    assert len(code) == 1 and ERROR_LINE in code[0]
