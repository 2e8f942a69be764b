"""FakeDeployer: the FunctionDeployer fake (``tests/fakes.py`` re-exports it), one function in memory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlops_pipeline.domain.errors import DeploymentError
from mlops_pipeline.domain.models import Artifact, DeployResult, InvokeResult


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

    def current_version(self) -> str | None:
        return self.alias

    def deploy(
        self, artifact: Artifact, before_alias_move: Callable[[str | None, str], None] | None = None
    ) -> DeployResult:
        if self.fail_deploy:
            raise DeploymentError(self.fail_deploy)
        previous = self.alias
        new = str(max((int(v) for v in self.versions), default=0) + 1)
        self.versions[new] = artifact.uri
        if before_alias_move is not None:
            before_alias_move(previous, new)
        self.alias = new
        return DeployResult(self.function_name, "live", previous, new)

    def rollback(self, to_version: str) -> None:
        if to_version not in self.versions:
            raise DeploymentError(f"no version {to_version}")
        self.alias = to_version

    def invoke_alias(self, payload: Mapping[str, Any]) -> InvokeResult:
        self.invocations.append(payload)
        if self.invoke_result is not None:
            return self.invoke_result
        return InvokeResult(200, {"predictions": [1.0]}, None, 12.0, self.alias)
