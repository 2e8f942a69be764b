"""Traffic shifting (UpdateAlias with RoutingConfig) and bake metrics (GetMetricData) on moto.

The emulator end to end (weights honoured, metrics written by the runtime) is in
tests/functional/emulator_ext/test_rollout_traffic.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_moto_env import PROD, ClientFactory, handler_zip
from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws import metrics, traffic
from mlops_pipeline.adapters.aws.traffic import AliasTraffic
from mlops_pipeline.domain.errors import DeploymentError
from mlops_pipeline.domain.rollout import BakeMetrics
from mlops_pipeline.local.emulator import lambda_metrics

pytestmark = pytest.mark.functional

FN = "rollout-fn"


@pytest.fixture
def lam(client_in: ClientFactory, accounts: dict[str, str]) -> Any:
    """FN in prod with versions 1..3, alias ``live`` on 1."""
    client = client_in("lambda", PROD)
    role = accounts["prod"]
    client.create_function(
        FunctionName=FN,
        Runtime="python3.11",
        Role=role,
        Handler="h.handler",
        Code={"ZipFile": handler_zip("a")},
    )
    for answer in "abc":  # new code each time: Lambda publishes no version for unchanged code
        client.update_function_code(FunctionName=FN, ZipFile=handler_zip(answer))
        client.publish_version(FunctionName=FN)
    client.create_alias(FunctionName=FN, Name="live", FunctionVersion="1")
    return client


def test_shift_walks_the_weights_and_clears_routing_at_the_ends(lam: Any) -> None:
    ten = traffic.shift(lam, FN, "live", "2", 10)
    assert (ten.version, ten.weights) == ("1", {"2": 10.0})
    assert (ten.share("1"), ten.share("2")) == (90.0, 10.0)
    stored = lam.get_alias(FunctionName=FN, Name="live")
    assert stored["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}

    half = traffic.shift(lam, FN, "live", "2", 50)
    assert (half.version, half.weights) == ("1", {"2": 50.0})

    done = traffic.shift(lam, FN, "live", "2", 100)
    assert (done.version, done.weights) == ("2", {})
    assert traffic.read(lam, FN, "live") == AliasTraffic("2", {}, done.revision_id)


def test_shift_to_zero_goes_back_to_the_previous_version(lam: Any) -> None:
    traffic.shift(lam, FN, "live", "2", 10)
    back = traffic.shift(lam, FN, "live", "2", 0)
    assert (back.version, back.weights) == ("1", {})
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "1"


def test_after_100_a_step_back_needs_the_previous_version(lam: Any) -> None:
    traffic.shift(lam, FN, "live", "2", 100)
    with pytest.raises(DeploymentError, match="name the previous version"):
        traffic.shift(lam, FN, "live", "2", 0)
    back = traffic.shift(lam, FN, "live", "2", 0, previous_version="1")
    assert (back.version, back.weights) == ("1", {})


@pytest.mark.parametrize(
    ("version", "weight"), [("$LATEST", 10), ("0", 10), ("2", 101), ("2", -1), ("2", True)]
)
def test_bad_shift_requests_touch_nothing(lam: Any, version: str, weight: Any) -> None:
    with pytest.raises(DeploymentError):
        traffic.shift(lam, FN, "live", version, weight)
    assert traffic.read(lam, FN, "live").version == "1"
    assert traffic.read(lam, FN, "live").weights == {}


def test_shift_is_revision_guarded(lam: Any) -> None:
    sent: list[dict[str, Any]] = []
    lam.meta.events.register(
        "provide-client-params.lambda.UpdateAlias", lambda params, **_: sent.append(params)
    )
    before = lam.get_alias(FunctionName=FN, Name="live")["RevisionId"]
    traffic.shift(lam, FN, "live", "2", 10)
    assert sent[0]["RevisionId"] == before

    # moto ignores RevisionId (the emulator does not): answer as AWS does on a stale revision.
    def precondition_failed(**_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "wrong RevisionId"}}, "UpdateAlias"
        )

    lam.meta.events.register("before-call.lambda.UpdateAlias", precondition_failed)
    with pytest.raises(DeploymentError, match="changed by someone else meanwhile"):
        traffic.shift(lam, FN, "live", "2", 100)


def test_unknown_alias_is_a_deployment_error(lam: Any) -> None:
    with pytest.raises(DeploymentError, match="cannot read alias 'nope'"):
        traffic.shift(lam, FN, "nope", "2", 10)


# -- metrics -------------------------------------------------------------------------------------


def _put(cw: Any, version: str, durations: list[float], errors: int, throttles: int = 0) -> None:
    dims = [
        {"Name": "FunctionName", "Value": FN},
        {"Name": "Resource", "Value": f"{FN}:live"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
    data = []
    for i, duration in enumerate(durations):
        data += [
            {"MetricName": "Invocations", "Value": 1, "Unit": "Count", "Dimensions": dims},
            {"MetricName": "Errors", "Value": 1 if i < errors else 0, "Unit": "Count", "Dimensions": dims},
            {"MetricName": "Throttles", "Value": 0, "Unit": "Count", "Dimensions": dims},
            {"MetricName": "Duration", "Value": duration, "Unit": "Milliseconds", "Dimensions": dims},
        ]
    data.append({"MetricName": "Throttles", "Value": throttles, "Unit": "Count", "Dimensions": dims})
    for start in range(0, len(data), 500):
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=data[start : start + 500])


def test_read_bake_reads_each_version_behind_the_alias(client_in: ClientFactory) -> None:
    lambda_metrics.install()  # moto answers no percentile; the emulator's fix teaches it p99
    cw = client_in("cloudwatch", PROD)
    _put(cw, "1", [100.0 + i for i in range(180)], errors=1)
    _put(cw, "2", [float(i) for i in range(1, 21)], errors=4, throttles=2)
    # the same function through another alias must not count
    other = [{"Name": "FunctionName", "Value": FN}, {"Name": "Resource", "Value": f"{FN}:other"}]
    other.append({"Name": "ExecutedVersion", "Value": "2"})
    cw.put_metric_data(
        Namespace="AWS/Lambda", MetricData=[{"MetricName": "Invocations", "Value": 1, "Dimensions": other}]
    )
    now = datetime.now(UTC)

    bake = metrics.read_bake(
        cw, FN, "live", ["2", "1"], now - timedelta(minutes=5), now + timedelta(minutes=1)
    )

    assert bake["2"] == BakeMetrics("2", invocations=20, errors=4, throttles=2, p99_ms=20.0)
    assert bake["1"] == BakeMetrics("1", invocations=180, errors=1, throttles=0, p99_ms=278.0)
    quiet = metrics.read_version(cw, FN, "live", "3", now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert quiet == BakeMetrics("3")


def test_period_covers_the_window_in_whole_minutes() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert metrics.period_for(start, start + timedelta(seconds=10)) == 60
    assert metrics.period_for(start, start + timedelta(seconds=301)) == 360
    with pytest.raises(ValueError, match="must end after it starts"):
        metrics.period_for(start, start)


def test_cloudwatch_failure_is_metrics_unavailable() -> None:
    class Refusing:
        def get_metric_data(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")

    now = datetime.now(UTC)
    with pytest.raises(metrics.MetricsUnavailableError, match="cannot read the metrics of rollout-fn:live"):
        metrics.read_version(Refusing(), FN, "live", "2", now - timedelta(minutes=5), now)
