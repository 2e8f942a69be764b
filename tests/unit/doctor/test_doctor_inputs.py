"""The doctor's inputs: tfvars parsing, variable defaults, precedence, version constraints of a root."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipeline.doctor.inputs import (
    RawValue,
    build_inputs,
    load_inputs,
    parse_tfvars,
    parse_value,
    parse_variable_defaults,
    parse_versions_tf,
    read_root_constraints,
    strip_comments,
)

LIVE_AWS = Path(__file__).resolve().parents[3] / "terraform" / "live" / "aws"


def test_scalars_lists_objects_and_comments() -> None:
    text = """
# a comment
region = "eu-west-1"   # trailing
// another comment
stage_account_id = "222222222222"
slack_channel = "C#1 // not a comment"
/* block
prod_account_id = "999999999999"
*/
approval_timeout_seconds = 3600
ratio = 0.5
mlflow_fargate_spot = true
existing_network = null
approvers = ["U1", "U2"]
chatbot = {
  slack_team_id    = "T0123456789"   # inside
  slack_channel_id = "C0123456789"
}
tags = { project = "x" }
name_prefix = "after-the-object"
"""
    values = parse_tfvars(text)

    assert values["region"] == "eu-west-1"
    assert values["stage_account_id"] == "222222222222"
    assert values["slack_channel"] == "C#1 // not a comment"
    assert "prod_account_id" not in values
    assert values["approval_timeout_seconds"] == 3600
    assert values["ratio"] == 0.5
    assert values["mlflow_fargate_spot"] is True
    assert values["existing_network"] is None
    assert values["approvers"] == RawValue('["U1", "U2"]')
    chatbot = values["chatbot"]
    assert isinstance(chatbot, RawValue) and "T0123456789" in chatbot.text and "# inside" not in chatbot.text
    # Keys inside the object are not top-level variables; the next assignment is.
    assert "slack_team_id" not in values and "project" not in values
    assert values["name_prefix"] == "after-the-object"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"plain"', "plain"),
        ('"with \\"quotes\\" and \\\\"', 'with "quotes" and \\'),
        ('"${var.x}-y"', RawValue('"${var.x}-y"')),
        ("-3", -3),
        ("false", False),
        ("var.region", RawValue("var.region")),
    ],
)
def test_parse_value(text: str, expected: object) -> None:
    assert parse_value(text) == expected


def test_strip_comments_keeps_strings() -> None:
    assert strip_comments('a = "x # y" # z\nb = 1 /* c */ // d') == 'a = "x # y" \nb = 1  '


def test_variable_defaults_of_the_real_root() -> None:
    defaults = parse_variable_defaults((LIVE_AWS / "variables.tf").read_text())

    assert defaults["region"] == "us-east-1"
    assert defaults["target_admin_role_name"] == "OrganizationAccountAccessRole"
    assert defaults["chatbot"] is None
    # Required variables have no default; nothing from validation blocks leaks in.
    assert "stage_account_id" not in defaults and "slack_channel" not in defaults
    assert "condition" not in defaults and "error_message" not in defaults
    # The Chatbot channel's own region, and the prefix MLflow's VPC link is named with.
    assert defaults["chatbot_region"] == "us-west-2"
    assert build_inputs({}, defaults).name_prefix == "mlops"


def test_variable_defaults_ignore_nested_blocks_and_multiline_types() -> None:
    text = """
variable "a" {
  type = object({
    default = string
  })
  default = null
  validation {
    condition     = true
    error_message = "x"
  }
}

variable "b" {
  default = {
    k = "v"
  }
}

variable "c" {
  type = string
}
"""
    defaults = parse_variable_defaults(text)

    assert defaults == {"a": None, "b": RawValue('{\n    k = "v"\n  }')}


def test_options_override_tfvars_which_override_defaults() -> None:
    defaults = {"region": "us-east-1", "target_admin_role_name": "OrganizationAccountAccessRole"}
    tfvars = parse_tfvars(
        'region = "eu-west-1"\nstage_account_id = "222222222222"\nprod_account_id = "333333333333"\n'
        'chatbot = { slack_team_id = "T1", slack_channel_id = "C1" }\n'
    )

    inputs = build_inputs(tfvars, defaults, {"region": "us-west-2", "prod_account_id": None})

    assert inputs.region == "us-west-2"
    assert inputs.stage_account_id == "222222222222"
    assert inputs.prod_account_id == "333333333333"  # None means "not given"
    assert inputs.target_admin_role_name == "OrganizationAccountAccessRole"
    assert inputs.chatbot_configured and inputs.effective_chatbot_region == "us-west-2"
    assert inputs.role_arn("222222222222") == "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
    assert not inputs.existing_network


def test_null_chatbot_and_chatbot_region() -> None:
    inputs = build_inputs(parse_tfvars('chatbot = null\nchatbot_region = "us-east-2"\nregion = "eu-west-1"'))

    assert not inputs.chatbot_configured
    assert inputs.effective_chatbot_region == "us-east-2"


def test_load_inputs_from_a_root_without_tfvars(tmp_path: Path) -> None:
    (tmp_path / "variables.tf").write_text('variable "region" {\n  default = "ap-southeast-1"\n}\n')

    inputs = load_inputs(tmp_path, overrides={"stage_account_id": "222222222222"})

    assert inputs.region == "ap-southeast-1"
    assert inputs.stage_account_id == "222222222222"
    assert inputs.target_admin_role_name == "OrganizationAccountAccessRole"  # the fallback
    assert "no " in inputs.notes[0] and "terraform.tfvars" in inputs.notes[0]


def test_versions_tf_constraints() -> None:
    text = """
terraform {
  required_version = ">= 1.11.0" # comment
  required_providers {
    random = { source = "hashicorp/random", version = "~> 3.0" }
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 6.0.0"
    }
  }
}
"""
    constraints = parse_versions_tf(text)

    assert constraints.terraform == ">= 1.11.0"
    assert constraints.aws_provider == ">= 5.80.0, < 6.0.0"
    assert parse_versions_tf("terraform {}").terraform is None


def test_the_real_root_declares_both_constraints() -> None:
    constraints = read_root_constraints(LIVE_AWS)

    assert constraints.terraform and constraints.terraform.startswith(">=")
    assert constraints.aws_provider and "<" in constraints.aws_provider
