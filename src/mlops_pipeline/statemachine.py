"""The state machine definition: one template, rendered by Terraform or by this module."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_pipeline.domain.errors import ConfigError

_PLACEHOLDER = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")

# The functions the ASL invokes (``${<name>_function_arn}``). Deploy, smoke test and rollback
# run once per environment, each with its own role (``deploy_stage``, ``deploy_prod``, ...).
ASL_FUNCTIONS = (
    "report",
    "evaluate",
    "deploy_stage",
    "smoke_test_stage",
    "rollback_stage",
    "promote",
    "request_approval",
    "expire_approval",
    "deploy_prod",
    "smoke_test_prod",
    "rollback_prod",
)


def template_path() -> Path:
    """statemachine/pipeline.asl.json (in the source tree, or installed beside the package)."""
    here = Path(__file__).resolve()
    for base in (here.parents[2], here.parent):
        candidate = base / "statemachine" / "pipeline.asl.json"
        if candidate.is_file():
            return candidate
    raise ConfigError("statemachine/pipeline.asl.json not found")


def placeholders(template: str | None = None) -> set[str]:
    """The names of the ${...} placeholders in the template."""
    text = template if template is not None else template_path().read_text()
    return set(_PLACEHOLDER.findall(text))


def render(values: Mapping[str, str], template: str | None = None) -> str:
    """Fill every placeholder, like Terraform's templatefile; unknown or missing names are errors."""
    text = template if template is not None else template_path().read_text()
    wanted = placeholders(text)
    missing = wanted - set(values)
    extra = set(values) - wanted
    if missing or extra:
        raise ConfigError(f"ASL template values: missing {sorted(missing)}, unknown {sorted(extra)}")
    # Values land inside JSON strings: escape them as JSON string content.
    rendered = _PLACEHOLDER.sub(lambda m: json.dumps(str(values[m.group(1)]))[1:-1], text)
    json.loads(rendered)  # a template that renders to invalid JSON is a bug here, not in AWS
    return rendered


def definition(values: Mapping[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(render(values))
    return result
