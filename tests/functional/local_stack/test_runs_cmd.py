"""`mlops-pipeline runs list|show` against a DynamoDB table (moto), as on AWS with --table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from mlops_pipeline.adapters.aws.dynamodb import DynamoRunStore, create_table
from mlops_pipeline.cli.main import app
from mlops_pipeline.domain.models import RunRecord, StepLog, StepStatus

pytestmark = pytest.mark.functional

TABLE = "mlops-pipeline"
ARN = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:"
T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoRunStore]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("MLOPS_TABLE", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, TABLE)
        runs = DynamoRunStore(TABLE, client=client)
        for minutes, name in ((0, "first-aaaa"), (5, "second-bbbb")):
            runs.create_if_absent(
                RunRecord(
                    execution=ARN + name,
                    commit=f"{name[:4]}1234567890",
                    repository="models",
                    branch="main",
                    author="author@example.com",
                    started_at=T0 + timedelta(minutes=minutes),
                )
            )
        runs.record_step(ARN + "second-bbbb", StepStatus("Build", "SUCCEEDED", T0, "delivery-time v2"))
        runs.update(ARN + "second-bbbb", model="delivery-time", version="2")
        yield runs


def test_list_newest_first(store: DynamoRunStore) -> None:
    result = CliRunner().invoke(app, ["runs", "list", "--table", TABLE, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["execution"].rsplit(":", 1)[-1] for r in rows] == ["second-bbbb", "first-aaaa"]
    assert rows[0]["model"] == "delivery-time" and rows[0]["version"] == "2"
    table = CliRunner().invoke(app, ["runs", "list", "--table", TABLE])
    assert table.exit_code == 0
    assert "second-bbbb" in table.output and "Build SUCCEEDED" in table.output


def test_show_by_name_prefix(store: DynamoRunStore) -> None:
    result = CliRunner().invoke(app, ["runs", "show", "second", "--table", TABLE, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["execution"] == ARN + "second-bbbb"
    assert shown["steps"] == [
        {"step": "Build", "status": "SUCCEEDED", "at": T0.isoformat(), "detail": "delivery-time v2"}
    ]


def test_show_unknown_or_ambiguous_is_an_error(store: DynamoRunStore) -> None:
    unknown = CliRunner().invoke(app, ["runs", "show", "nothing", "--table", TABLE])
    assert unknown.exit_code == 1
    assert "0 runs match 'nothing'" in unknown.output
    missing = CliRunner().invoke(app, ["runs", "show", ARN + "gone", "--table", TABLE])
    assert missing.exit_code == 1
    assert "no run record" in missing.output


def test_without_table_or_stack(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_TABLE", raising=False)
    result = CliRunner().invoke(app, ["runs", "list", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no local stack is running" in result.output


def test_show_prints_a_failed_builds_last_log_lines_and_where_the_log_is(store: DynamoRunStore) -> None:
    log = StepLog(
        "/state/logs/codebuild/mlops-train:1.log",
        ("Traceback (most recent call last):", "ModuleNotFoundError: No module named 'sklearn_but_misspelt'"),
    )
    store.record_step(
        ARN + "first-aaaa", StepStatus("Train", "FAILED", T0, "States.TaskFailed: build", log=log)
    )
    text = CliRunner().invoke(app, ["runs", "show", "first", "--table", TABLE])
    assert text.exit_code == 0, text.output
    assert "      | ModuleNotFoundError: No module named 'sklearn_but_misspelt'" in text.output
    assert "      full log: /state/logs/codebuild/mlops-train:1.log" in text.output
    shown = json.loads(CliRunner().invoke(app, ["runs", "show", "first", "--table", TABLE, "--json"]).output)
    assert shown["steps"][-1]["log"] == {"lines": list(log.lines), "location": log.location, "error": ""}


def test_show_latest_is_the_newest_run(store: DynamoRunStore) -> None:
    result = CliRunner().invoke(app, ["runs", "show", "latest", "--table", TABLE, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["execution"] == ARN + "second-bbbb"


def test_show_latest_without_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
        result = CliRunner().invoke(app, ["runs", "show", "latest", "--table", TABLE])
    assert result.exit_code == 1
    assert "no runs yet" in result.output


def test_show_prints_the_serving_flavour_and_why_it_fell_back(store: DynamoRunStore) -> None:
    reason = "onnx parity failed on 119 of 200 rows"
    store.update(ARN + "second-bbbb", serving_flavor="skops", serving_fallback_reason=reason)
    text = CliRunner().invoke(app, ["runs", "show", "second", "--table", TABLE])
    assert text.exit_code == 0, text.output
    assert "serving_flavor   skops" in text.output
    assert f"serving_fallback_reason {reason}" in text.output
    shown = json.loads(CliRunner().invoke(app, ["runs", "show", "latest", "--table", TABLE, "--json"]).output)
    assert (shown["serving_flavor"], shown["serving_fallback_reason"]) == ("skops", reason)
