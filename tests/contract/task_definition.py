"""The MLflow container as terraform/modules/mlflow defines it, read from Terraform itself, and
the pipeline module wired to it (its CodeBuild project and Lambdas).

``terraform test -verbose -json`` runs ``task_definition/render.tftest.hcl`` (the module with a
mocked AWS provider) and prints the resulting state; from it come the container definition of
``aws_ecs_task_definition.this`` (environment and secrets, exactly as ECS would get them) and
the few values of other resources a test needs (database name and master user, the front
door's names). Nothing of the task definition is copied into the tests.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline import tf

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "task_definition"
MODULE = "module.mlflow"
PIPELINE = "module.pipeline"


@dataclass(frozen=True)
class SecretRef:
    """One ``secrets[]`` entry: ECS reads ``key`` of the JSON in ``arn`` into ``name``."""

    name: str
    arn: str
    key: str


@dataclass(frozen=True)
class RenderedTask:
    container: dict[str, Any]  # the whole container definition
    environment: dict[str, str]
    secrets: tuple[SecretRef, ...]
    resources: dict[str, dict[str, Any]]  # address -> values

    def resource(self, address: str) -> dict[str, Any]:
        return self.resources[f"{MODULE}.{address}"]

    def pipeline(self, address: str) -> dict[str, Any]:
        """A resource of the pipeline module wired to the mlflow module (as terraform/live/aws does)."""
        return self.resources[f"{PIPELINE}.{address}"]

    def build_environment(self, project: str = "this") -> dict[str, tuple[str, str]]:
        """A CodeBuild project's environment (``this``: the trusted registration step, ``train``:
        the untrusted training step): name -> (type, value), as CodeBuild gets it."""
        values = self.pipeline(f"aws_codebuild_project.{project}")
        return {v["name"]: (v["type"], v["value"]) for v in values["environment"][0]["environment_variable"]}

    def buildspec(self, project: str = "this") -> str:
        """A CodeBuild project's buildspec, as Terraform rendered it."""
        return str(self.pipeline(f"aws_codebuild_project.{project}")["source"][0]["buildspec"])

    def lambda_environments(self) -> dict[str, dict[str, str]]:
        """Each pipeline Lambda's environment variables, by function key."""
        prefix = f'{PIPELINE}.aws_lambda_function.this["'
        return {
            address.removeprefix(prefix).removesuffix('"]'): dict(values["environment"][0]["variables"])
            for address, values in self.resources.items()
            if address.startswith(prefix)
        }


def parse_value_from(name: str, value_from: str) -> SecretRef:
    """``<secret arn>:<json key>:<version stage>:<version id>`` (the ARN has colons itself)."""
    arn, key, stage, version = value_from.rsplit(":", 3)
    if not key or stage or version:
        raise ValueError(f"{name}: expected '<arn>:<json-key>::', got {value_from!r}")
    return SecretRef(name, arn, key)


def _resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _resources(child)


def render(workdir: Path) -> RenderedTask:
    """Copy terraform/ and the fixture into ``workdir``, run the test, return the container."""
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*")
    shutil.copytree(REPO / "terraform", workdir / "terraform", ignore=ignore)
    shutil.copytree(REPO / "statemachine", workdir / "statemachine")  # the pipeline module renders it
    fixture = workdir / "tests" / "contract" / "task_definition"
    shutil.copytree(FIXTURE, fixture, ignore=ignore)
    runner = tf.Terraform(fixture, data_dir=workdir / ".tfdata")
    runner.init()
    result = runner.test("-verbose", "-json")
    states = [
        event["test_state"]
        for event in map(json.loads, result.stdout.splitlines())
        if event.get("type") == "test_state"
    ]
    if len(states) != 1:
        raise AssertionError(f"expected one rendered state, got {len(states)}:\n{result.stdout[-3000:]}")
    resources = {r["address"]: r["values"] for r in _resources(states[0]["root_module"])}
    (container,) = json.loads(resources[f"{MODULE}.aws_ecs_task_definition.this"]["container_definitions"])
    environment = {e["name"]: e["value"] for e in container["environment"]}
    secrets = tuple(parse_value_from(s["name"], s["valueFrom"]) for s in container["secrets"])
    return RenderedTask(container, environment, secrets, resources)
