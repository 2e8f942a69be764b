"""FakeDeployer: the FunctionDeployer fake (``tests/fakes.py`` re-exports it), one function in memory."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from mlops_pipeline.domain.errors import DeploymentError, MetricsUnavailableError
from mlops_pipeline.domain.models import Artifact, DeployResult, InvokeResult
from mlops_pipeline.domain.rollout import BakeMetrics


class FakeDeployer:
    """One function with published versions and an alias; can be told to fail."""

    def __init__(self, function_name: str = "fn", current: str | None = "1") -> None:
        self.function_name = function_name
        # Version -> the artifact URI it runs ("initial" stands for Terraform's placeholder).
        self.versions: dict[str, str] = {"1": "initial"} if current else {}
        self.alias: str | None = current
        self.fail_deploy: str | None = None
        self.invoke_result: InvokeResult | None = None
        self.invocations: list[Mapping[str, Any]] = []
        self.qualifiers: list[str | None] = []  # what each invocation named (None: the alias)
        # Weighted routing of the alias: {extra version: percent}; cleared by a full move.
        self.weights: dict[str, int] = {}
        self.shifts: list[tuple[str, int]] = []
        # What bake_metrics answers: version -> BakeMetrics (absent: no requests).
        self.metrics: dict[str, BakeMetrics] = {}
        self.fail_metrics: str | None = None

    def current_version(self) -> str | None:
        return self.alias

    def deploy(
        self,
        artifact: Artifact,
        before_alias_move: Callable[[str | None, str], None] | None = None,
        move_alias: bool = True,
    ) -> DeployResult:
        if self.fail_deploy:
            raise DeploymentError(self.fail_deploy)
        previous = self.alias
        new = str(max((int(v) for v in self.versions), default=0) + 1)
        self.versions[new] = artifact.uri
        if move_alias:
            if before_alias_move is not None:
                before_alias_move(previous, new)
            self.alias, self.weights = new, {}
        return DeployResult(self.function_name, "live", previous, new)

    def rollback(self, to_version: str) -> None:
        if to_version not in self.versions:
            raise DeploymentError(f"no version {to_version}")
        self.alias, self.weights = to_version, {}

    def invoke_alias(self, payload: Mapping[str, Any], qualifier: str | None = None) -> InvokeResult:
        self.invocations.append(payload)
        self.qualifiers.append(qualifier)
        if self.invoke_result is not None:
            return self.invoke_result
        return InvokeResult(200, {"predictions": [1.0]}, None, 12.0, qualifier or self.alias)

    def shift_traffic(self, new_version: str, weight: int, previous_version: str | None) -> None:
        if new_version not in self.versions:
            raise DeploymentError(f"no version {new_version}")
        self.shifts.append((new_version, weight))
        if weight >= 100:
            self.alias, self.weights = new_version, {}
        else:
            self.alias = previous_version if self.alias == new_version else self.alias
            self.weights = {new_version: weight} if weight else {}

    def bake_metrics(self, versions: Sequence[str], start: datetime, end: datetime) -> dict[str, BakeMetrics]:
        if self.fail_metrics:
            raise MetricsUnavailableError(self.fail_metrics)
        return {v: self.metrics.get(v, BakeMetrics(v)) for v in versions}
