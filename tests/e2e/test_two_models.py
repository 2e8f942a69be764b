"""Two declared models on one stack: each lands in its own functions, gated against its own champion.

The stack declares seed_code/'s ``delivery-time`` and ``transit-days`` (the same project under
another name, 3 neighbours): a run of one moves only its own functions' ``live`` aliases in stage
and prod, compares with its own model's production version, and leaves the other's functions
answering with the other's model. A project whose ``[model] name`` is not declared is refused at
Train, before any training, and nothing is registered or deployed.
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_pipeline.domain.models import Artifact
from mlops_pipeline.local.stack import demo
from tests.e2e.conftest import E2E, SECOND_MODEL, SEED_MODEL, production_version

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENVIRONMENTS = ("stage", "prod")
MODELS = (SEED_MODEL, SECOND_MODEL)
# seed_code/mlops.toml's smoke request (both models take the same columns).
REQUEST = {
    "columns": ["PORT_LOAD_LAT", "PORT_LOAD_LONG", "PORT_DEL_LAT", "PORT_DEL_LONG"],
    "data": [[26.51, 119.52, 33.75, 33.75]],
}


def live(e2e: E2E) -> dict[tuple[str, str], str]:
    """The version behind ``live`` of every declared model's function, per environment."""
    return {(m, env): demo.alias_version(e2e.client, env, m) for m in MODELS for env in ENVIRONMENTS}


def published(e2e: E2E) -> dict[tuple[str, str], int]:
    """How many versions each model's function has published, per environment."""
    counts = {}
    for model in MODELS:
        for env in ENVIRONMENTS:
            lam = e2e.client.client("lambda", env)
            versions = lam.list_versions_by_function(FunctionName=e2e.info.function_of(model, env))[
                "Versions"
            ]
            counts[(model, env)] = len(versions)
    return counts


def answering_model(e2e: E2E, environment: str, model: str) -> str:
    """The model name the ``live`` alias of ``model``'s function answers with."""
    return str(demo.predict(e2e.client, environment, REQUEST, model)["model_name"])


def rmse_of(registry: MlflowClient, model: str, version: str) -> float:
    run_id = str(registry.get_model_version(model, version).run_id)
    return float(registry.get_run(run_id).data.metrics["rmse"])


def test_each_model_lands_in_its_own_functions_gated_against_its_own_champion(
    e2e: E2E, champion: str
) -> None:
    registry = MlflowClient(e2e.info.mlflow_url)
    assert e2e.info.function_of(SEED_MODEL, "stage") != e2e.info.function_of(SECOND_MODEL, "stage")
    assert production_version(registry, SECOND_MODEL) is None  # delivery-time has one: `champion`
    before = live(e2e)

    # The second model's first run: no champion of its own yet, so nothing to compare with.
    first = e2e.run(e2e.second_project("second-1"), "approve")
    assert first.view.status == "SUCCEEDED", f"{first.view.error}: {first.view.cause}\n{first.log}"
    result = first.result
    assert result.model_name == SECOND_MODEL
    assert result.functions == {env: e2e.info.function_of(SECOND_MODEL, env) for env in ENVIRONMENTS}
    assert not result.evaluation.get("champion_version"), result.evaluation
    assert production_version(registry, SECOND_MODEL) == result.model_version
    assert production_version(registry, SEED_MODEL) == champion
    artifact = Artifact.from_dict(result.evaluation["artifact"])
    after = live(e2e)
    for env, version in (("stage", result.stage_version), ("prod", result.prod_version)):
        assert after[(SECOND_MODEL, env)] == version and int(version) > int(before[(SECOND_MODEL, env)])
        function = e2e.client.client("lambda", env).get_function(
            FunctionName=e2e.info.function_of(SECOND_MODEL, env), Qualifier=version
        )
        assert function["Configuration"]["CodeSha256"] == artifact.lambda_code_sha256
        # The other model's functions: the same live version, still answering with its own model.
        assert after[(SEED_MODEL, env)] == before[(SEED_MODEL, env)]
        assert answering_model(e2e, env, SEED_MODEL) == SEED_MODEL
        assert answering_model(e2e, env, SECOND_MODEL) == SECOND_MODEL
    assert result.prediction is not None and result.prediction["response"]["model_name"] == SECOND_MODEL

    # Its second run is compared with its own champion (the first run's version), not with
    # delivery-time's; the two champions' rmse differ (1 vs 3 neighbours), so the value tells which.
    seed_rmse, second_rmse = (
        rmse_of(registry, SEED_MODEL, champion),
        rmse_of(registry, SECOND_MODEL, result.model_version),
    )
    assert seed_rmse != second_rmse
    project = e2e.second_project("second-2")
    train = project / "train.py"
    train.write_text(train.read_text() + "\n# a second candidate of transit-days\n")
    again = e2e.run(project, "reject")
    assert again.result.outcome == "rejected", f"{again.view.error}: {again.view.cause}\n{again.log}"
    evaluation = again.result.evaluation
    assert evaluation["model_name"] == SECOND_MODEL
    assert str(evaluation["champion_version"]) == result.model_version
    assert evaluation["champion"] == pytest.approx(second_rmse)
    final = live(e2e)
    assert int(final[(SECOND_MODEL, "stage")]) > int(after[(SECOND_MODEL, "stage")])
    assert final[(SECOND_MODEL, "prod")] == after[(SECOND_MODEL, "prod")]
    assert production_version(registry, SECOND_MODEL) == result.model_version
    for env in ENVIRONMENTS:
        assert final[(SEED_MODEL, env)] == before[(SEED_MODEL, env)]
        assert answering_model(e2e, env, SEED_MODEL) == SEED_MODEL
    assert production_version(registry, SEED_MODEL) == champion


def test_an_undeclared_model_is_refused_at_train_and_nothing_is_deployed(e2e: E2E) -> None:
    registry = MlflowClient(e2e.info.mlflow_url)
    aliases, versions = live(e2e), published(e2e)
    run = e2e.run(e2e.project("undeclared", model="not-declared"), "approve")
    assert run.view.status == "FAILED" and run.result.outcome == "failed"
    names = [s.name for s in run.view.steps]
    assert "Build" not in names and not any(n.startswith("Deploy") for n in names), names
    assert run.view.steps[names.index("Train")].status == "failed"
    # `mlops-pipeline train` refused before training (DECLARED_MODELS), saying how to declare it.
    assert run.result.failed_log is not None
    step, log = run.result.failed_log
    shown = "\n".join(log.lines) + log.error
    assert step == "Train"
    assert "'not-declared' is not declared" in shown and "Terraform variable `models`" in shown, shown
    assert "running train.py" not in shown  # refused before train.py ran
    # Nothing registered, published or moved.
    with pytest.raises(MlflowException):
        registry.get_registered_model("not-declared")
    assert live(e2e) == aliases
    assert published(e2e) == versions
    assert run.result.functions == {} and run.result.stage_version == run.result.prod_version == ""
