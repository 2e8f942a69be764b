"""Per-invocation Lambda metrics in the emulated CloudWatch, as Lambda publishes them.

After each invocation the runtime calls ``record``: namespace ``AWS/Lambda``, metrics
``Invocations`` (1), ``Errors`` (1 on a function error, handled or not, timeouts included),
``Throttles`` (0: the emulator never throttles) and ``Duration`` (ms), in the account and
region of the function, under each dimension set Lambda uses:

* ``FunctionName`` for every invocation;
* ``FunctionName, Resource`` (``<fn>:<qualifier>``) when a version or an alias was invoked;
* ``FunctionName, Resource, ExecutedVersion`` when an alias was invoked: the version that ran.
  ``ExecutedVersion`` only exists together with ``Resource`` on AWS (see the metric dimension
  sets of ``AWS::Lambda::Function``), so a weighted alias is read per version with all three.

``install()`` teaches moto's statistics the percentiles (``p99``, ``p95.5``...) that
GetMetricData and GetMetricStatistics accept on AWS and that moto answers with nothing.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from moto.cloudwatch.models import Statistics, cloudwatch_backends

log = logging.getLogger(__name__)

NAMESPACE = "AWS/Lambda"
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


class _Outcome(Protocol):
    @property
    def function_error(self) -> str | None: ...
    @property
    def duration_ms(self) -> float: ...


def dimension_sets(
    function_name: str, invoked_arn: str | None, executed_version: str
) -> list[list[dict[str, str]]]:
    """The dimension sets one invocation is counted under (see the module docstring)."""
    sets = [[{"Name": "FunctionName", "Value": function_name}]]
    parts = (invoked_arn or "").split(":")
    qualifier = parts[7] if len(parts) > 7 else None
    if not qualifier:
        return sets
    resource = {"Name": "Resource", "Value": f"{function_name}:{qualifier}"}
    sets.append([sets[0][0], resource])
    is_alias = not qualifier.isdigit() and qualifier != "$LATEST"
    if is_alias:
        sets.append([sets[0][0], resource, {"Name": "ExecutedVersion", "Value": executed_version}])
    return sets


def metric_data(
    function_name: str, invoked_arn: str | None, executed_version: str, outcome: _Outcome
) -> list[dict[str, Any]]:
    """PutMetricData entries of one invocation."""
    values = (
        ("Invocations", 1.0, "Count"),
        ("Errors", 1.0 if outcome.function_error else 0.0, "Count"),
        ("Throttles", 0.0, "Count"),
        ("Duration", round(outcome.duration_ms, 2), "Milliseconds"),
    )
    return [
        {"MetricName": name, "Value": value, "Unit": unit, "Dimensions": dims}
        for dims in dimension_sets(function_name, invoked_arn, executed_version)
        for name, value, unit in values
    ]


def record(
    account_id: str, region: str, function_name: str, invoked_arn: str | None, version: str, outcome: _Outcome
) -> None:
    """Put the invocation's metrics in the emulated CloudWatch (never fails the invocation)."""
    try:
        backend = cloudwatch_backends[account_id][region]
        backend.put_metric_data(NAMESPACE, metric_data(function_name, invoked_arn, version, outcome))
    except Exception:  # metrics are observability: a failure must not turn into a function error
        log.exception("could not record the metrics of %s", function_name)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Percentile statistics in moto's CloudWatch (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        original = Statistics.get_statistics_for_type

        def get_statistics_for_type(self: Statistics, stat: str) -> Any:
            match = _PERCENTILE.match(stat)
            if match is None:
                return original(self, stat)
            return percentile(self.metric_single_values_list, float(match.group(1)))

        Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]
