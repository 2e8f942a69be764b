"""Terraform facts that only AWS would otherwise tell us, checked at plan level.

- The AWS Chatbot API exists in four regions only: live/aws creates the channel configuration
  with its own provider (``aws.chatbot``, region ``chatbot_region``, validated against
  terraform/modules/chatbot/api_regions.json), whatever region the rest uses. Checked on the
  plan graph of live/aws (``terraform graph -type=plan``) and by evaluating the variable with
  ``terraform console``; the module's own tftest shows the configuration is created with
  ``aws.chatbot``. (``terraform test`` of live/aws is not possible: Terraform 1.11's mock
  providers cannot mock the ephemeral password resources the root opens.)
- A function is created with code and permissions someone else grants: on the first apply it
  must wait for them, or the create races the grant (Lambda checks the execution role, the
  cross-account image or object it is created from). Checked on ``terraform graph`` of live/aws:
  each function reaches, through its dependencies, its role's policy and every grant in the
  tooling account its first code is read through.
- The tables the doctor checks at run time are the ones Terraform enforces at plan time.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline import tf
from mlops_pipeline.doctor.aws_checks import CHATBOT_API_REGIONS
from tests.terraform.conftest import REPO, _runner

pytestmark = pytest.mark.terraform

LIVE_AWS = "live/aws"
_EDGE = re.compile(r'^\s*"(?P<source>(?:[^"\\]|\\.)+)"\s*->\s*"(?P<target>(?:[^"\\]|\\.)+)"', re.M)
CHATBOT_PROVIDER = '[root] provider["registry.terraform.io/hashicorp/aws"].chatbot'
API_REGIONS_JSON = REPO / "terraform" / "modules" / "chatbot" / "api_regions.json"
VARIABLES = {
    "stage_account_id": "222222222222",
    "prod_account_id": "333333333333",
    "slack_channel": "C0123456789",
}

# What each function is read through or runs with at create time, and must therefore wait for:
# its execution role's policy, and (inference functions) the tooling account's grants on the
# code it is created from (Lambda checks them on CreateFunction). Update the table when a
# module renames these resources or the functions' first code moves (zip in S3: bucket policy).
NEEDS: dict[str, tuple[str, ...]] = {
    "module.pipeline.aws_lambda_function.this": ("module.pipeline.aws_iam_role_policy.lambda",),
    "module.stage.aws_lambda_function.this": (
        "module.stage.aws_iam_role_policy.execution",
        "module.pipeline.aws_ecr_repository_policy.serving",
    ),
    "module.prod.aws_lambda_function.this": (
        "module.prod.aws_iam_role_policy.execution",
        "module.pipeline.aws_ecr_repository_policy.serving",
    ),
}


@pytest.fixture(scope="module")
def live_aws(tf_tree: Path, terraform_bin: str, validated: dict[str, Any]) -> tf.Terraform:
    """The scratch copy of live/aws, initialised by the ``validated`` fixture."""
    assert validated[LIVE_AWS].ok, validated[LIVE_AWS].output
    return _runner(tf_tree, terraform_bin, LIVE_AWS)


@pytest.fixture(scope="module")
def graph(live_aws: tf.Terraform) -> dict[str, set[str]]:
    """``terraform graph`` of live/aws (resources only): node -> the nodes it depends on."""
    return parse_graph(live_aws.run("graph", "-no-color").stdout)


def parse_graph(dot: str) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for match in _EDGE.finditer(dot):
        edges[match["source"].replace('\\"', '"')].add(match["target"].replace('\\"', '"'))
    return edges


def dependencies(edges: dict[str, set[str]], node: str) -> set[str]:
    """Everything ``node`` depends on, directly or not (the graph is transitively reduced)."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        for target in edges.get(stack.pop(), ()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


@pytest.fixture(scope="module")
def plan_graph(live_aws: tf.Terraform) -> dict[str, set[str]]:
    """``terraform graph -type=plan`` of live/aws: every node (variables, providers) and edge."""
    return parse_graph(live_aws.run("graph", "-type=plan", "-no-color").stdout)


def console(runner: tf.Terraform, tmp_path: Path, expression: str, **variables: str) -> str:
    """Evaluate ``expression`` in live/aws with ``terraform console``: its output, errors included.

    The console evaluates the root's variables (their validations too) and locals without AWS;
    it exits 0 even when it reports errors, so callers read the text.
    """
    dist = tmp_path / "dist"
    dist.mkdir(exist_ok=True)
    package = {"base64sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}
    packages = {name: {"path": f"{name}.zip", **package} for name in ("core", "registry")}
    (dist / "manifest.json").write_text(json.dumps({"packages": packages}))
    args = [f"-var={k}={v}" for k, v in {**VARIABLES, "lambda_dist_dir": str(dist), **variables}.items()]
    result = subprocess.run(
        [runner.binary, "console", "-no-color", *args],
        cwd=runner.workdir,
        env=runner.environment(),
        input=expression + "\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return " ".join((result.stdout + result.stderr).split())


def test_the_chatbot_module_gets_the_chatbot_provider(plan_graph: dict[str, set[str]]) -> None:
    """module.chatbot's aws.chatbot is live/aws's aws.chatbot, configured from var.chatbot_region."""
    region_probe = "[root] module.chatbot.data.aws_region.chatbot (expand)"
    assert CHATBOT_PROVIDER in plan_graph.get(region_probe, set()), (
        "module.chatbot is not handed live/aws's aws.chatbot provider"
    )
    assert any(
        node.startswith("[root] var.chatbot_region") for node in plan_graph.get(CHATBOT_PROVIDER, set())
    ), "aws.chatbot is not configured from var.chatbot_region"


def test_chatbot_region_defaults_to_a_region_with_the_api(live_aws: tf.Terraform, tmp_path: Path) -> None:
    output = console(live_aws, tmp_path, "var.chatbot_region")
    assert "Error:" not in output and '"us-west-2"' in output, output
    assert "us-west-2" in json.loads(API_REGIONS_JSON.read_text())["regions"]


def test_chatbot_region_rejects_a_region_without_the_api(live_aws: tf.Terraform, tmp_path: Path) -> None:
    output = console(live_aws, tmp_path, "var.chatbot_region", chatbot_region="us-east-1")
    assert "Error: Invalid value for variable" in output and 'variable "chatbot_region"' in output, output
    assert (
        "chatbot_region must be a region with the AWS Chatbot API: ap-southeast-1, eu-west-1, us-east-2 or us-west-2"
        in output
    )
    assert "Error:" not in console(live_aws, tmp_path, "var.chatbot_region", chatbot_region="eu-west-1")


@pytest.mark.parametrize("function", sorted(NEEDS))
def test_functions_wait_for_the_access_they_are_created_with(
    graph: dict[str, set[str]], function: str
) -> None:
    nodes = set(graph) | {t for targets in graph.values() for t in targets}
    assert function in nodes and all(need in nodes for need in NEEDS[function]), (
        "NEEDS names resources that exist"
    )
    missing = [need for need in NEEDS[function] if need not in dependencies(graph, function)]
    assert missing == [], f"{function} can be created before {missing}: the first apply races them"


def test_the_graph_check_sees_a_missing_dependency() -> None:
    dot = '"f" -> "policy";\n"policy" -> "role";\n"f" -> "log";\n"grant" -> "repository";\n'
    edges = parse_graph(dot)
    assert dependencies(edges, "f") == {"policy", "role", "log"}
    assert "grant" not in dependencies(edges, "f")


def test_the_doctor_checks_the_chatbot_regions_terraform_enforces() -> None:
    regions = json.loads(API_REGIONS_JSON.read_text())["regions"]
    assert set(regions) == CHATBOT_API_REGIONS
    variables = (REPO / "terraform/live/aws/variables.tf").read_text()
    message = re.search(r'variable "chatbot_region".*?error_message\s*=\s*"([^"]+)"', variables, re.S)
    assert message, "chatbot_region has a validation"
    assert set(re.findall(r"[a-z]{2}-[a-z]+-\d", message.group(1))) == CHATBOT_API_REGIONS, (
        "the error message lists exactly the valid regions"
    )
