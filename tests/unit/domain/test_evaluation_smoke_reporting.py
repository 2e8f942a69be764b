import json

import pytest

from mlops_pipeline.domain.errors import InvalidEventError, ModelNotFoundError
from mlops_pipeline.domain.evaluation import evaluate_candidate, parse_build_exports
from mlops_pipeline.domain.gate_limits import GateLimits
from mlops_pipeline.domain.models import Artifact, ArtifactKind, InvokeResult
from mlops_pipeline.domain.reporting import Reporter
from mlops_pipeline.domain.smoke import check, expected_rows
from tests.fakes import FakeClock, FakeNotifier, FakeRegistry, FakeRunStore

SHA = "abababababababababababababababababababababababababababababababab"
ZIP_URI = "s3://mlops-artifacts-x/serving/ships/ships-2.zip?versionId=v2"
EXPORTS = [
    {"Name": "MODEL_NAME", "Value": "ships"},
    {"Name": "MODEL_VERSION", "Value": "2"},
    {"Name": "ARTIFACT_URI", "Value": ZIP_URI},
    {"Name": "ARTIFACT_KIND", "Value": "zip"},
    {"Name": "ARTIFACT_SHA256", "Value": SHA},
    {"Name": "RUN_ID", "Value": "run2"},
]


def test_parse_build_exports() -> None:
    out = parse_build_exports(EXPORTS)
    assert (out.model_name, out.model_version, out.run_id) == ("ships", "2", "run2")
    assert out.artifact == Artifact(ArtifactKind.ZIP, ZIP_URI, SHA)
    assert out.artifact.s3_location == ("mlops-artifacts-x", "serving/ships/ships-2.zip", "v2")
    with pytest.raises(InvalidEventError, match="ARTIFACT_URI, ARTIFACT_KIND, ARTIFACT_SHA256, RUN_ID"):
        parse_build_exports(EXPORTS[:2])


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("ARTIFACT_KIND", "tarball", "not zip or image"),
        ("ARTIFACT_SHA256", "AB" * 32, "64 lowercase hex"),
        ("ARTIFACT_URI", "s3://mlops-artifacts-x/serving/ships/ships-2.zip", "no object version"),
        ("ARTIFACT_URI", "https://example.com/ships-2.zip?versionId=1", "is not an s3://"),
    ],
)
def test_malformed_artifact_exports_are_refused(name: str, value: str, words: str) -> None:
    exports = [{"Name": e["Name"], "Value": value if e["Name"] == name else e["Value"]} for e in EXPORTS]
    with pytest.raises(InvalidEventError, match=words):
        parse_build_exports(exports)


def test_image_artifacts_need_a_tag_or_digest() -> None:
    tagged = Artifact(
        ArtifactKind.IMAGE, "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:ships-2", SHA
    )
    assert tagged.lambda_code_sha256 == SHA
    with pytest.raises(InvalidEventError, match="neither a tag nor a digest"):
        Artifact(ArtifactKind.IMAGE, "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving", SHA)
    with pytest.raises(InvalidEventError, match="is not an s3://"):
        _ = tagged.s3_location


def test_zip_artifact_code_sha_is_what_lambda_reports() -> None:
    # Lambda's CodeSha256 of a zip is the base64 of the sha256 digest.
    assert Artifact(ArtifactKind.ZIP, ZIP_URI, "00" * 32).lambda_code_sha256 == "A" * 43 + "="
    assert Artifact.from_dict(Artifact(ArtifactKind.ZIP, ZIP_URI, SHA).to_dict()).uri == ZIP_URI


def test_evaluate_uses_project_gate_and_champion() -> None:
    registry = FakeRegistry()
    registry.add("ships", "1", {"rmse": 10.0, "r2": 0.5}, git_commit="aaa")
    registry.set_alias("ships", "production", "1")
    registry.add(
        "ships",
        "2",
        {"rmse": 12.0, "r2": 0.6},
        git_commit="bbb",
        gate_metric="r2",
        gate_direction="higher",
        gate_tolerance="0",
        git_commit_time="1700",
        smoke_input=json.dumps({"inputs": [{"a": 1}]}),
    )
    trigger = {"commit": "bbb", "pushed_at": "2026-11-26T12:00:00Z"}
    # A pipeline that lets the project choose its metric (GATE_METRIC `*`).
    out = evaluate_candidate(registry, parse_build_exports(EXPORTS), trigger, GateLimits(metric=None))
    assert out["passed"] is True and out["metric"] == "r2" and out["champion_version"] == "1"
    # Commit order is the push's time from the trigger, never the commit date the pusher wrote.
    assert out["commit_time"] == 1_795_694_400 and out["smoke_input"] == {"inputs": [{"a": 1}]}
    assert out["champion_metrics"] == {"rmse": 10.0, "r2": 0.5}
    assert out["artifact"] == {"kind": "zip", "uri": ZIP_URI, "sha256": SHA}
    # With the default (rmse, lower) the same candidate fails.
    registry.set_tags("ships", "2", {"gate_metric": "rmse", "gate_direction": "lower"})
    assert (
        evaluate_candidate(registry, parse_build_exports(EXPORTS), {}, GateLimits(metric=None))["passed"]
        is False
    )


def test_evaluate_refuses_version_of_another_commit() -> None:
    registry = FakeRegistry()
    registry.add("ships", "2", {"rmse": 1.0}, git_commit="other")
    with pytest.raises(ModelNotFoundError, match="built from other"):
        evaluate_candidate(registry, parse_build_exports(EXPORTS), {"commit": "bbb"}, GateLimits())


def test_evaluate_refuses_exports_that_disagree_with_the_registered_artifact() -> None:
    registry = FakeRegistry()
    registry.add("ships", "2", {"rmse": 1.0}, git_commit="bbb", artifact_sha256="cd" * 32)
    with pytest.raises(InvalidEventError, match="records artifact sha256 cdcdcdcdcdcd"):
        evaluate_candidate(registry, parse_build_exports(EXPORTS), {"commit": "bbb"}, GateLimits())
    registry.set_tags("ships", "2", {"artifact_sha256": SHA})
    assert evaluate_candidate(registry, parse_build_exports(EXPORTS), {"commit": "bbb"}, GateLimits())


@pytest.mark.parametrize(
    ("example", "rows"),
    [
        ({"inputs": [{"a": 1}, {"a": 2}]}, 2),
        ({"inputs": {"a": [1, 2, 3]}}, 3),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]]}}, 1),
        ([{"a": 1}], 1),
        ("nonsense", None),
    ],
)
def test_expected_rows(example: object, rows: int | None) -> None:
    assert expected_rows(example) == rows


def test_smoke_check_outcomes() -> None:
    example = {"inputs": [{"a": 1}, {"a": 2}]}
    ok = check(
        InvokeResult(200, {"statusCode": 200, "predictions": [1, 2], "model_version": "9"}, None, 40.0, "3"),
        example,
        1000,
        "3",
        "9",
    )
    assert ok.passed and ok.rows == 2
    proxied = InvokeResult(
        200, {"statusCode": 200, "body": json.dumps({"predictions": [1, 2]})}, None, 5.0, "3"
    )
    assert check(proxied, example, 1000).passed
    cases = [
        (
            InvokeResult(200, {"errorType": "ValueError", "errorMessage": "boom"}, "Unhandled", 5, "3"),
            "ValueError: boom",
        ),
        (InvokeResult(200, {"predictions": [1]}, None, 5, "3"), "1 predictions for 2 input rows"),
        (InvokeResult(200, {"result": 1}, None, 5, "3"), "no 'predictions'"),
        (InvokeResult(200, {"predictions": [1, 2]}, None, 5000, "3"), "above the limit"),
        (InvokeResult(200, {"predictions": [1, 2]}, None, 5, "2"), "live ran version 2, expected 3"),
        (InvokeResult(200, {"statusCode": 400, "body": '{"error": "x"}'}, None, 5, "3"), "answered 400"),
        (InvokeResult(200, {"statusCode": 400, "error": {"field": "a"}}, None, 5, "3"), "answered 400"),
        (
            InvokeResult(200, {"predictions": [1, 2], "model_version": "7"}, None, 5, "3"),
            "serves model version 7",
        ),
    ]
    for result, reason in cases:
        outcome = check(result, example, 1000, "3", expected_model_version="9")
        assert not outcome.passed and reason in outcome.reason


def test_reporter_creates_one_thread_and_records_steps() -> None:
    runs, notifier = FakeRunStore(), FakeNotifier()
    reporter = Reporter(runs, notifier, FakeClock(), "C1")
    trigger = {"commit": "abc", "repository": "r", "branch": "main", "author": "ds"}
    reporter.step("exec", "Build", "STARTED", trigger=trigger)
    reporter.step("exec", "Build", "FAILED", "boom")
    record = runs.get("exec")
    assert record is not None and record.status == "FAILED"
    assert [s.status for s in record.steps] == ["STARTED", "FAILED"]
    thread = notifier.thread(record.slack_thread_ts or "")
    assert len(thread) == 3  # header + two progress replies
    assert all(m["thread_ts"] == record.slack_thread_ts for m in thread[1:])
