"""The version bounds every configuration declares cover what it uses.

A configuration that uses an attribute the AWS provider added in 5.88.0 while declaring
``>= 5.80.0`` passes every test here (the mirror holds one newer provider) and breaks for a
user whose lock file pins 5.80: only AWS's own releases would tell. So the features that came
late are listed below with the release that introduced them (from the provider's changelog and
pull requests), each configuration is searched for them, and its lower bound must reach the
newest one it uses. The same for Terraform itself (write-only attributes, ephemeral values).

And one bound for everything: every module, example and root declares the same provider and
Terraform lower bound, the one the provider mirror holds (so the lower bound is what is tested).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_pipeline import tf
from mlops_pipeline.doctor.terraform_checks import Version, mirror_versions, satisfies

pytestmark = pytest.mark.terraform

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"


@dataclass(frozen=True)
class Feature:
    pattern: str  # a regular expression over the configuration's .tf text
    since: str  # the first release that has it
    source: str  # where that is recorded


# hashicorp/aws features this repository uses that are newer than 5.0. Extend the table when a
# configuration starts using another recent attribute or resource type (the guard below makes
# every write-only attribute appear here).
PROVIDER_FEATURES: dict[str, Feature] = {
    "secret_string_wo": Feature(
        r"\bsecret_string_wo\s*=",
        "5.88.0",
        "hashicorp/terraform-provider-aws#41371 (r/aws_secretsmanager_secret_version: add secret_string_wo), milestone v5.88.0",
    ),
    "secret_string_wo_version": Feature(
        r"\bsecret_string_wo_version\s*=",
        "5.88.0",
        "hashicorp/terraform-provider-aws#41371, with secret_string_wo",
    ),
    "ephemeral aws_secretsmanager_random_password": Feature(
        r'ephemeral\s+"aws_secretsmanager_random_password"',
        "5.85.0",
        "CHANGELOG 5.85.0 (February 3, 2025): New Ephemeral Resource aws_secretsmanager_random_password (#41106)",
    ),
    "seconds_until_auto_pause (Serverless v2, min_capacity 0)": Feature(
        r"\bseconds_until_auto_pause\s*=",
        "5.81.0",
        "hashicorp/terraform-provider-aws#40453 (serverlessv2_scaling_configuration.seconds_until_auto_pause), released in v5.81.0",
    ),
    "aws_chatbot_slack_channel_configuration": Feature(
        r'resource\s+"aws_chatbot_slack_channel_configuration"',
        "5.61.0",
        "hashicorp/terraform-provider-aws#38615 (new resource), released in v5.61.0",
    ),
}

# Terraform language features newer than 1.9.
TERRAFORM_FEATURES: dict[str, Feature] = {
    "write-only attributes (*_wo)": Feature(
        r"\b\w+_wo\s*=", "1.11.0", "Terraform 1.11.0: write-only attributes"
    ),
    "ephemeral resources": Feature(r'^\s*ephemeral\s+"', "1.10.0", "Terraform 1.10.0: ephemeral resources"),
    "ephemeral variables": Feature(
        r"^\s*ephemeral\s*=\s*true", "1.10.0", "Terraform 1.10.0: ephemeral values"
    ),
}

_AWS_BLOCK = re.compile(r"aws\s*=\s*\{(?P<body>[^{}]*)\}", re.S)
_VERSION = re.compile(r'^\s*version\s*=\s*"(?P<value>[^"]+)"', re.M)
_REQUIRED_VERSION = re.compile(r'^\s*required_version\s*=\s*"(?P<value>[^"]+)"', re.M)
_WRITE_ONLY = re.compile(r"\b(\w+_wo)\s*=")


def configurations() -> list[Path]:
    """Every Terraform configuration of the repository: modules, their examples, the roots."""
    modules = sorted(p.parent for p in (TERRAFORM / "modules").glob("*/main.tf"))
    examples = sorted(p.parent for p in (TERRAFORM / "modules").glob("*/examples/*/main.tf"))
    roots = sorted(p.parent for p in (TERRAFORM / "live").glob("*/main.tf"))
    return [*modules, *examples, *roots]


def name(config: Path) -> str:
    return config.relative_to(TERRAFORM).as_posix() if config.is_relative_to(TERRAFORM) else config.name


def own_text(config: Path) -> str:
    """The configuration's own .tf files (not its examples' or tests' fixtures)."""
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(config.glob("*.tf")))


def declared(config: Path) -> tuple[str, str]:
    """(the hashicorp/aws version constraint, the required_version) of ``config``."""
    text = own_text(config)
    aws = _AWS_BLOCK.search(text)
    provider = _VERSION.search(aws.group("body")) if aws else None
    terraform = _REQUIRED_VERSION.search(text)
    assert provider and terraform, f"{name(config)} declares no hashicorp/aws version or required_version"
    return provider.group("value"), terraform.group("value")


def lower_bound(constraint: str) -> Version:
    bounds = [
        Version.parse(part.strip()[2:]) for part in constraint.split(",") if part.strip().startswith(">=")
    ]
    assert len(bounds) == 1, f"{constraint!r} has no single '>=' lower bound"
    return bounds[0]


def used(features: dict[str, Feature], text: str) -> dict[str, Feature]:
    return {key: f for key, f in features.items() if re.search(f.pattern, text, re.M)}


def unmet(config: Path) -> list[str]:
    """The features ``config`` uses that its declared lower bounds do not cover."""
    provider, terraform = declared(config)
    text = own_text(config)
    problems = []
    for features, constraint in ((PROVIDER_FEATURES, provider), (TERRAFORM_FEATURES, terraform)):
        bound = lower_bound(constraint)
        for key, feature in used(features, text).items():
            if bound.key() < Version.parse(feature.since).key():
                problems.append(
                    f"{name(config)}: {key} needs {feature.since} ({feature.source}); declares {constraint!r}"
                )
    return problems


@pytest.mark.parametrize("config", configurations(), ids=name)
def test_lower_bounds_cover_the_features_used(config: Path) -> None:
    assert unmet(config) == []


def test_every_configuration_declares_the_same_bounds() -> None:
    bounds = {name(c): declared(c) for c in configurations()}
    assert len(set(bounds.values())) == 1, "different version bounds:\n" + "\n".join(
        f"  {n}: aws {p!r}, terraform {t!r}" for n, (p, t) in sorted(bounds.items())
    )


def test_every_write_only_attribute_is_in_the_table() -> None:
    """A new *_wo attribute needs its provider release in PROVIDER_FEATURES."""
    found = {m.group(1) for c in configurations() for m in _WRITE_ONLY.finditer(own_text(c))}
    known = {key for key in PROVIDER_FEATURES if key.endswith("_wo")}
    assert found <= known, (
        f"write-only attributes without a release in PROVIDER_FEATURES: {sorted(found - known)}"
    )


def test_the_table_is_used() -> None:
    """Each entry matches something (a renamed or removed attribute leaves no stale row)."""
    text = "\n".join(own_text(c) for c in configurations())
    stale = [
        key
        for features in (PROVIDER_FEATURES, TERRAFORM_FEATURES)
        for key in features
        if key not in used(features, text)
    ]
    assert stale == []


def test_the_lower_bound_is_the_tested_provider() -> None:
    """The provider mirror the tests run with satisfies the bound and holds its lower end."""
    plugin_dir = tf.find_plugin_dir()
    if plugin_dir is None:
        pytest.skip("no provider mirror: init downloads the newest provider the constraint allows")
    constraint, _ = declared(TERRAFORM / "live" / "aws")
    versions = sorted(mirror_versions(plugin_dir))
    assert any(satisfies(v, constraint) for v in versions), (versions, constraint)
    assert str(lower_bound(constraint)) in versions, (
        f"the mirror ({versions}) does not hold the lower bound of {constraint!r}: the oldest allowed provider is untested"
    )


def test_the_check_catches_a_bound_below_a_feature(tmp_path: Path) -> None:
    """secret_string_wo under '>= 5.80.0' is reported; under '>= 5.88.0' it is not."""
    config = tmp_path / "module"
    config.mkdir()
    (config / "main.tf").write_text(
        'resource "aws_secretsmanager_secret_version" "this" {\n'
        '  secret_id                = "x"\n'
        "  secret_string_wo         = var.value\n"
        "  secret_string_wo_version = 1\n"
        "}\n"
    )
    versions = (
        'terraform {\n  required_version = ">= {tf}"\n\n  required_providers {\n    aws = {\n'
        '      source  = "hashicorp/aws"\n      version = ">= {aws}, < 6.0.0"\n    }\n  }\n}\n'
    )
    (config / "versions.tf").write_text(versions.replace("{tf}", "1.9.0").replace("{aws}", "5.80.0"))
    problems = unmet(config)
    assert any("secret_string_wo needs 5.88.0" in p for p in problems)
    assert any("write-only attributes" in p and "1.11.0" in p for p in problems)

    (config / "versions.tf").write_text(versions.replace("{tf}", "1.11.0").replace("{aws}", "5.88.0"))
    assert unmet(config) == []
