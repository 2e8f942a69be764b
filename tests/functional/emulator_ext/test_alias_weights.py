"""Weighted aliases in the emulator: versions picked by weight, per-version metrics, revisions,
and the rollout's foundations end to end (shift 10 %, traffic, metrics per version, verdict).

The function's two versions run different code (v2 fails), so both the version that
answered and the metrics it left can be checked against each other.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws import metrics, traffic
from mlops_pipeline.domain.rollout import RolloutPolicy, judge, next_weight
from mlops_pipeline.local.emulator import lambda_runtime
from mlops_pipeline.local.emulator.alias_routing import AliasRouter
from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.emulator.lambda_metrics import dimension_sets, percentile

pytestmark = pytest.mark.functional

ACCOUNT = "prod"
FUNCTION = "weighted"
REQUESTS = 200
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
GOOD = (
    "def handler(event, context):\n"
    "    return {'v': context.function_version, 'arn': context.invoked_function_arn.split(':', 6)[-1]}\n"
)
BAD = "def handler(event, context):\n    raise RuntimeError('v2 is broken')\n"


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def deploy_two_versions(emulator: Emulator, name: str, second: str = BAD) -> tuple[str, str]:
    """A function with v1 (healthy) and v2 (``second``); returns the two version numbers."""
    iam = emulator.client("iam", ACCOUNT)
    try:
        role = iam.get_role(RoleName="weighted-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="weighted-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam = emulator.client("lambda", ACCOUNT)
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip(GOOD)},
        Timeout=10,
    )
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_code(FunctionName=name, ZipFile=_zip(second))
    v2 = lam.publish_version(FunctionName=name)["Version"]
    return str(v1), str(v2)


def invoke_many(emulator: Emulator, qualified_name: str, count: int) -> list[dict[str, Any]]:
    """``count`` RequestResponse invocations, 8 at a time: ExecutedVersion, error, payload of each."""
    lam = emulator.client("lambda", ACCOUNT)

    def one(_: int) -> dict[str, Any]:
        answer = lam.invoke(FunctionName=qualified_name, Payload=b"{}")
        return {
            "version": answer["ExecutedVersion"],
            "error": answer.get("FunctionError"),
            "payload": json.loads(answer["Payload"].read()),
        }

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


@pytest.fixture
def seeded() -> Iterator[AliasRouter]:
    runtime = lambda_runtime.active()
    assert runtime is not None
    runtime.router.seed(20261130)
    yield runtime.router
    runtime.router.seed(None)


def _sum(emulator: Emulator, metric: str, dims: dict[str, str], stat: str = "Sum") -> float | None:
    now = datetime.now(UTC)
    answer = emulator.client("cloudwatch", ACCOUNT).get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    },
                    "Period": 3600,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - timedelta(minutes=30),
        EndTime=now + timedelta(minutes=5),
    )
    values = answer["MetricDataResults"][0]["Values"]
    return float(sum(values)) if stat == "Sum" else (max(values) if values else None)


def test_router_follows_weights_and_seed() -> None:
    router = AliasRouter(seed=1)
    picks = Counter(router.pick("1", {"2": 0.25}) for _ in range(4000))
    assert 900 <= picks["2"] <= 1100
    assert set(picks) == {"1", "2"}
    again = AliasRouter(seed=1)
    replay = AliasRouter(seed=1)
    assert [again.pick("1", {"2": 0.5}) for _ in range(50)] == [
        replay.pick("1", {"2": 0.5}) for _ in range(50)
    ]
    assert all(router.pick("1", {"2": 0.0}) == "1" for _ in range(200))
    assert all(router.pick("1", {"2": 1.0}) == "2" for _ in range(200))


def test_dimension_sets_are_lambdas() -> None:
    arn = "arn:aws:lambda:us-east-1:333333333333:function:fn"
    by_name = [{"Name": "FunctionName", "Value": "fn"}]
    assert dimension_sets("fn", arn, "$LATEST") == [by_name]
    assert dimension_sets("fn", None, "$LATEST") == [by_name]
    resource = {"Name": "Resource", "Value": "fn:3"}
    assert dimension_sets("fn", f"{arn}:3", "3") == [by_name, [*by_name, resource]]
    live = {"Name": "Resource", "Value": "fn:live"}
    executed = {"Name": "ExecutedVersion", "Value": "4"}
    assert dimension_sets("fn", f"{arn}:live", "4") == [by_name, [*by_name, live], [*by_name, live, executed]]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 99) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert percentile([float(i) for i in range(1, 101)], 50) == 50.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0


def test_weighted_alias_splits_traffic_and_writes_metrics_per_version(
    emulator: Emulator, seeded: AliasRouter
) -> None:
    v1, v2 = deploy_two_versions(emulator, FUNCTION)
    lam = emulator.client("lambda", ACCOUNT)
    lam.create_alias(
        FunctionName=FUNCTION,
        Name="live",
        FunctionVersion=v1,
        RoutingConfig={"AdditionalVersionWeights": {v2: 0.1}},
    )

    answers = invoke_many(emulator, f"{FUNCTION}:live", REQUESTS)

    served = Counter(a["version"] for a in answers)
    print(f"\n90/10 alias over {REQUESTS} requests: v{v1} served {served[v1]}, v{v2} served {served[v2]}")
    assert set(served) == {v1, v2}
    assert 8 <= served[v2] <= 40  # binomial(200, 0.1): mean 20, sd 4.2; the seed pins one draw
    for answer in answers:  # the answer came from the version named, through the alias
        if answer["version"] == v1:
            assert answer["error"] is None
            assert answer["payload"] == {"v": v1, "arn": f"{FUNCTION}:live"}
        else:
            assert answer["error"] == "Unhandled"
            assert answer["payload"]["errorMessage"] == "v2 is broken"

    resource = {"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:live"}
    for version in (v1, v2):
        dims = {**resource, "ExecutedVersion": version}
        assert _sum(emulator, "Invocations", dims) == served[version]
        assert _sum(emulator, "Throttles", dims) == 0
        p99 = _sum(emulator, "Duration", dims, stat="p99")
        assert p99 is not None and p99 > 0
    assert _sum(emulator, "Errors", {**resource, "ExecutedVersion": v1}) == 0
    assert _sum(emulator, "Errors", {**resource, "ExecutedVersion": v2}) == served[v2]
    assert _sum(emulator, "Invocations", resource) == REQUESTS
    assert _sum(emulator, "Invocations", {"FunctionName": FUNCTION}) == REQUESTS


def test_alias_without_weights_runs_its_version_only(emulator: Emulator) -> None:
    v1, _ = deploy_two_versions(emulator, "unweighted")
    lam = emulator.client("lambda", ACCOUNT)
    lam.create_alias(FunctionName="unweighted", Name="live", FunctionVersion=v1)

    answers = invoke_many(emulator, "unweighted:live", 20)

    assert Counter(a["version"] for a in answers) == {v1: 20}
    live = {"FunctionName": "unweighted", "Resource": "unweighted:live", "ExecutedVersion": v1}
    assert _sum(emulator, "Invocations", live) == 20
    # invoked through the alias: nothing is counted under the version as a resource
    assert _sum(emulator, "Invocations", {"FunctionName": "unweighted", "Resource": "unweighted:1"}) == 0


def test_update_alias_checks_revision_and_routing(emulator: Emulator) -> None:
    v1, v2 = deploy_two_versions(emulator, "revised")
    lam = emulator.client("lambda", ACCOUNT)
    first = lam.create_alias(FunctionName="revised", Name="live", FunctionVersion=v1)

    moved = lam.update_alias(
        FunctionName="revised",
        Name="live",
        RevisionId=first["RevisionId"],
        RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}},
    )
    assert moved["RevisionId"] != first["RevisionId"]
    assert moved["RoutingConfig"] == {"AdditionalVersionWeights": {v2: 0.5}}

    with pytest.raises(ClientError) as stale:
        lam.update_alias(
            FunctionName="revised", Name="live", FunctionVersion=v2, RevisionId=first["RevisionId"]
        )
    assert stale.value.response["Error"]["Code"] == "PreconditionFailedException"
    with pytest.raises(ClientError) as same:
        lam.update_alias(
            FunctionName="revised", Name="live", RoutingConfig={"AdditionalVersionWeights": {v1: 0.5}}
        )
    assert same.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.get_alias(FunctionName="revised", Name="live")["FunctionVersion"] == v1


# -- the rollout foundations end to end: traffic.shift, the emulator, metrics.read_bake, judge -------

# v2 fails one request in five, counted across its processes (the state dir is shared), so the
# error rate does not depend on which requests the router happened to send it.
FLAKY = """import fcntl, os
def handler(event, context):
    path = os.path.join(os.environ["MLOPS_LOCAL_STATE"], "rollout-bad-v2.count")
    with open(path, "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        seen = len(counter.read())
        counter.write("x")
    if seen % 5 == 0:
        raise RuntimeError("v2 fails one request in five")
    return {"v": context.function_version}
"""


def _bake(emulator: Emulator, name: str, versions: list[str], since: datetime) -> dict[str, Any]:
    cloudwatch = emulator.client("cloudwatch", ACCOUNT)
    return metrics.read_bake(
        cloudwatch, name, "live", versions, since, datetime.now(UTC) + timedelta(minutes=1)
    )


def test_a_failing_version_at_ten_percent_is_rolled_back_on_its_errors(
    emulator: Emulator, seeded: AliasRouter
) -> None:
    v1, v2 = deploy_two_versions(emulator, "rollout-bad", second=FLAKY)
    lam = emulator.client("lambda", ACCOUNT)
    lam.create_alias(FunctionName="rollout-bad", Name="live", FunctionVersion=v1)
    since = datetime.now(UTC) - timedelta(minutes=1)

    assert traffic.shift(lam, "rollout-bad", "live", v2, 10).weights == {v2: 10.0}
    answers = invoke_many(emulator, "rollout-bad:live", REQUESTS)
    bake = _bake(emulator, "rollout-bad", [v2, v1], since)
    verdict = judge(RolloutPolicy(), bake[v2], bake[v1])

    served = Counter(a["version"] for a in answers)
    failed = Counter(a["version"] for a in answers if a["error"])
    print(
        f"\nbad v{v2} at 10 %: served {served[v2]} of {REQUESTS} requests ({failed[v2]} failed) "
        f"before the rollback; v{v1} served {served[v1]}. Verdict: {verdict.reason}"
    )
    assert (bake[v2].invocations, bake[v2].errors) == (served[v2], failed[v2])
    assert (bake[v1].invocations, bake[v1].errors) == (served[v1], 0)
    assert failed[v2] == -(-served[v2] // 5)  # the first of every five
    assert (verdict.action, verdict.metric) == ("rollback", "errors")
    assert f"on v{v2} ({failed[v2]} of {served[v2]} requests)" in verdict.reason

    back = traffic.shift(lam, "rollout-bad", "live", v2, 0)
    assert (back.version, back.weights) == (v1, {})
    assert Counter(a["version"] for a in invoke_many(emulator, "rollout-bad:live", 20)) == {v1: 20}


def test_a_healthy_version_advances_to_all_traffic(emulator: Emulator, seeded: AliasRouter) -> None:
    v1, v2 = deploy_two_versions(emulator, "rollout-good", second=GOOD)
    lam = emulator.client("lambda", ACCOUNT)
    lam.create_alias(FunctionName="rollout-good", Name="live", FunctionVersion=v1)
    # Durations of local processes are noisy; the p99 rules are unit-tested in test_rollout.py.
    policy = RolloutPolicy(max_p99_ratio_vs_previous=None)
    since = datetime.now(UTC) - timedelta(minutes=1)

    weight = next_weight(policy, 0)
    traffic.shift(lam, "rollout-good", "live", v2, weight)
    answers = invoke_many(emulator, "rollout-good:live", 100)
    bake = _bake(emulator, "rollout-good", [v2, v1], since)
    verdict = judge(policy, bake[v2], bake[v1])

    served = Counter(a["version"] for a in answers)
    print(f"\nhealthy v{v2} at {weight} %: served {served[v2]} of 100 requests; {verdict.reason}")
    assert bake[v2].invocations == served[v2] > 0
    assert bake[v2].errors == 0 and bake[v2].p99_ms is not None
    assert verdict.action == "advance"
    weight = next_weight(policy, weight)
    assert weight == 100
    done = traffic.shift(lam, "rollout-good", "live", v2, weight)
    assert (done.version, done.weights) == (v2, {})
    assert Counter(a["version"] for a in invoke_many(emulator, "rollout-good:live", 10)) == {v2: 10}
