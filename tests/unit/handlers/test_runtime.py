"""The composition root: given adapters replace the production defaults, which are built lazily."""

import json
import subprocess
import sys
import textwrap

import pytest

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeClock, FakeDeployer, FakeNotifier, FakeRunStore


def test_given_adapters_are_used_as_they_are() -> None:
    runs, notifier, clock = FakeRunStore(), FakeNotifier(), FakeClock()
    deployer = FakeDeployer("stage-fn")
    calls: list[tuple[str, str, str]] = []

    def factory(environment: str, execution: str, model: str) -> FakeDeployer:
        calls.append((environment, execution, model))
        return deployer

    targets = json.dumps({"stage": {"role_arn": "arn:aws:iam::1:role/d", "functions": {"ships": "f"}}})
    deps = Deps(
        env={"SLACK_CHANNEL": "C1", "DEPLOY_TARGETS": targets},
        runs=runs,
        notifier=notifier,
        clock=clock,
        deployer_factory=factory,
    )
    assert deps.runs is runs and deps.notifier is notifier and deps.clock is clock
    assert deps.deployer("stage", "arn:exec:1", "ships") is deployer
    assert calls == [("stage", "arn:exec:1", "ships")]
    # An undeclared model is refused before the factory (an assumed role) is reached.
    with pytest.raises(ConfigError, match="'churn' is not declared in stage"):
        deps.deployer("stage", "arn:exec:1", "churn")
    assert len(calls) == 1
    # The services are built on the given ports.
    assert deps.reporter.runs is runs and deps.reporter.notifier is notifier


def _run(code: str) -> None:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, env=env, timeout=120)


def test_production_defaults_are_imported_and_built_on_first_use_only() -> None:
    # A fresh interpreter: what a Lambda container imports when it starts.
    _run(
        """
        import sys
        from mlops_pipeline.handlers import deploy, evaluate, promote, report
        from mlops_pipeline.handlers._runtime import Deps, runtime

        def loaded(name):
            return f"mlops_pipeline.adapters.{name}" in sys.modules

        deps = runtime()
        assert deps is runtime()
        ports = ("aws.dynamodb", "aws.lambda_deployer", "aws.stepfunctions", "mlflow_registry")
        assert not any(loaded(name) for name in ports), [n for n in ports if loaded(n)]
        assert type(Deps(env={"MLOPS_TABLE": "t"}).runs).__name__ == "DynamoRunStore"
        assert loaded("aws.dynamodb") and not loaded("mlflow_registry")
        assert "mlflow" not in sys.modules
        """
    )
