"""What each version behind a weighted alias served during a bake, from CloudWatch.

Lambda counts an invocation through an alias under ``FunctionName, Resource, ExecutedVersion``
(``Resource`` = ``<function>:<alias>``, ``ExecutedVersion`` = the version that ran): the one
dimension set that tells the two versions of a weighted alias apart. ``FunctionName`` alone
and ``FunctionName, Resource`` add both versions up, and ``Resource = <function>:<version>``
only counts invocations that named the version, which live traffic never does.

One GetMetricData call reads every version: Sum of ``Invocations``, ``Errors`` and
``Throttles`` and p99 of ``Duration``, one period spanning the window (rounded up to whole
minutes). Should CloudWatch split the window in two periods, the sums are added and the
larger p99 is kept (percentiles cannot be merged; the larger is the cautious choice).
CloudWatch publishes Lambda metrics a minute or two late: read a window that ended then.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_pipeline.domain.errors import MetricsUnavailableError
from mlops_pipeline.domain.rollout import BakeMetrics

NAMESPACE = "AWS/Lambda"
SUMS = ("Invocations", "Errors", "Throttles")
DURATION_STAT = "p99"
MINUTE = 60


def _query_id(version: str, metric: str) -> str:
    # Ids must start with a lower-case letter and hold only letters, digits and underscores.
    return f"v{re.sub(r'[^0-9A-Za-z_]', '_', version)}_{metric.lower()}"


def queries(function: str, alias: str, versions: Iterable[str], period: int) -> list[dict[str, Any]]:
    """The MetricDataQueries reading ``versions`` of ``function`` invoked through ``alias``."""
    result = []
    for version in versions:
        dims = [
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": f"{function}:{alias}"},
            {"Name": "ExecutedVersion", "Value": str(version)},
        ]
        for metric, stat in (*((m, "Sum") for m in SUMS), ("Duration", DURATION_STAT)):
            result.append(
                {
                    "Id": _query_id(str(version), metric),
                    "MetricStat": {
                        "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dims},
                        "Period": period,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }
            )
    return result


def period_for(start: datetime, end: datetime) -> int:
    """One period covering the window, in whole minutes (CloudWatch's standard resolution)."""
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        raise ValueError(f"the window must end after it starts ({start.isoformat()} .. {end.isoformat()})")
    return max(MINUTE, math.ceil(seconds / MINUTE) * MINUTE)


def read_bake(
    cloudwatch: Any, function: str, alias: str, versions: Sequence[str], start: datetime, end: datetime
) -> dict[str, BakeMetrics]:
    """``{version: BakeMetrics}`` of each version served through ``alias`` in [start, end)."""
    period = period_for(start, end)
    values: dict[str, list[float]] = {}
    params: dict[str, Any] = {
        "MetricDataQueries": queries(function, alias, versions, period),
        "StartTime": start,
        "EndTime": end,
    }
    try:
        while True:
            answer = cloudwatch.get_metric_data(**params)
            for result in answer.get("MetricDataResults", []):
                values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
            token = answer.get("NextToken")
            if not token:
                break
            params["NextToken"] = token
    except (ClientError, BotoCoreError) as exc:
        raise MetricsUnavailableError(f"cannot read the metrics of {function}:{alias}: {exc}") from exc

    def total(version: str, metric: str) -> int:
        return round(sum(values.get(_query_id(version, metric), [])))

    bakes = {}
    for version in map(str, versions):
        durations = values.get(_query_id(version, "Duration"), [])
        bakes[version] = BakeMetrics(
            version=version,
            invocations=total(version, "Invocations"),
            errors=total(version, "Errors"),
            throttles=total(version, "Throttles"),
            p99_ms=max(durations) if durations else None,
        )
    return bakes


def read_version(
    cloudwatch: Any, function: str, alias: str, version: str, start: datetime, end: datetime
) -> BakeMetrics:
    """BakeMetrics of one version served through ``alias`` in [start, end)."""
    return read_bake(cloudwatch, function, alias, [version], start, end)[str(version)]
