"""Values the port scenarios store: one approval, run, deployed state... per call, all aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_pipeline.domain.models import Approval, DeployedState, RunRecord

T0 = datetime(2026, 11, 26, 5, 0, 0, 123456, tzinfo=UTC)


def approval(approval_id: str = "a1", model: str = "iris", minutes: int = 0, **fields: Any) -> Approval:
    requested = T0 + timedelta(minutes=minutes)
    return Approval(
        id=approval_id,
        task_token=f"token-{approval_id}",
        execution=f"arn:aws:states:us-east-1:111111111111:execution:p:{approval_id}",
        model=model,
        version="3",
        commit="abc123",
        author="ds@example.com",
        requested_at=requested,
        expires_at=requested + timedelta(days=1),
        details={"metrics": {"rmse": 0.25, "champion": None}, "smoke": {"latency_ms": 12.5}},
        **fields,
    )


def run(execution: str = "exec-1", minutes: int | None = 0) -> RunRecord:
    return RunRecord(
        execution=execution,
        commit="abc",
        repository="models",
        branch="main",
        author="ds@example.com",
        started_at=None if minutes is None else T0 + timedelta(minutes=minutes),
    )


def deployed(
    environment: str = "stage", version: str = "3", commit_time: int = 1_764_000_000
) -> DeployedState:
    return DeployedState(
        environment=environment,
        commit=f"c{version}",
        commit_time=commit_time,
        model="iris",
        version=version,
        execution=f"exec-{version}",
        deployed_at=T0,
    )
