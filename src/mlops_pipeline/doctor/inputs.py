"""The doctor's inputs: the root's ``terraform.tfvars``, its variable defaults and version constraints.

The parser is deliberately simple: top-level ``key = value`` assignments, where a value is a
string, number, bool or null; lists, objects and expressions are kept as text (:class:`RawValue`),
which is all the checks need (is ``chatbot`` set at all?). Comments (``#``, ``//``, ``/* */``)
outside strings are ignored; a value may span lines while its brackets are open.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import mlops_pipeline

ROOT_RELATIVE = Path("terraform") / "live" / "aws"
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$", re.DOTALL)
_VARIABLE = re.compile(r'^\s*variable\s+"([^"]+)"\s*\{\s*$')
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


@dataclass(frozen=True)
class RawValue:
    """A value kept as its HCL text (a list, an object, an expression)."""

    text: str


TfValue = str | int | float | bool | None | RawValue

# variables.tf's defaults, used when variables.tf cannot be read (an installed wheel, no checkout).
FALLBACK_DEFAULTS: dict[str, TfValue] = {
    "region": "us-east-1",
    "target_admin_role_name": "OrganizationAccountAccessRole",
    "repository_name": "models",
    "mlflow_front_door": "api_gateway",
    "name_prefix": "mlops",
    "git_source": "codecommit",
}


def strip_comments(text: str) -> str:
    """``text`` without its comments; strings (with their escapes) are left alone."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
            continue
        if ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif ch == "#" or text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _depth_change(line: str) -> int:
    """Opened minus closed brackets/braces/parens outside strings."""
    depth, in_string, escaped = 0, False, False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
    return depth


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """Logical statements with the bracket depth they start at.

    A statement is one line, or an assignment and the lines that follow while its value's
    brackets are open; a block header (``variable "x" {``) is a statement of its own.
    """
    depth = 0
    pending: list[str] = []
    pending_depth = 0
    for line in strip_comments(text).splitlines():
        change = _depth_change(line)
        if pending:
            pending.append(line)
            depth += change
            if depth <= pending_depth:
                yield pending_depth, "\n".join(pending)
                pending = []
            continue
        if change > 0 and _ASSIGNMENT.match(line):
            pending, pending_depth = [line], depth
            depth += change
            continue
        yield depth, line
        depth += change
    if pending:
        yield pending_depth, "\n".join(pending)


def parse_value(text: str) -> TfValue:
    """A scalar from its HCL text; anything else as :class:`RawValue`."""
    value = text.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"') and "${" not in value:
        try:
            decoded = json.loads(value)
        except ValueError:
            return value[1:-1]
        return decoded if isinstance(decoded, str) else RawValue(value)
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    if _NUMBER.match(value):
        return float(value) if any(c in value for c in ".eE") else int(value)
    return RawValue(value)


def parse_tfvars(text: str) -> dict[str, TfValue]:
    """Top-level ``key = value`` assignments of a ``.tfvars`` file."""
    values: dict[str, TfValue] = {}
    for depth, statement in _statements(text):
        if depth != 0:
            continue
        match = _ASSIGNMENT.match(statement)
        if match:
            values[match.group(1)] = parse_value(match.group(2))
    return values


def parse_variable_defaults(text: str) -> dict[str, TfValue]:
    """``variable "x" { default = ... }`` of a ``variables.tf``: each variable's default, if it has one."""
    defaults: dict[str, TfValue] = {}
    current: str | None = None
    for depth, statement in _statements(text):
        if depth == 0:
            header = _VARIABLE.match(statement)
            current = header.group(1) if header else None
            continue
        if current is not None and depth == 1:
            match = _ASSIGNMENT.match(statement)
            if match and match.group(1) == "default":
                defaults[current] = parse_value(match.group(2))
    return defaults


@dataclass(frozen=True)
class RootConstraints:
    """``required_version`` and the ``hashicorp/aws`` version constraint of a root module."""

    terraform: str | None
    aws_provider: str | None


def parse_versions_tf(text: str) -> RootConstraints:
    clean = strip_comments(text)
    required = re.search(r'required_version\s*=\s*"([^"]+)"', clean)
    provider = None
    block = re.search(r"\baws\s*=\s*\{([^}]*)\}", clean)
    if block:
        version = re.search(r'\bversion\s*=\s*"([^"]+)"', block.group(1))
        provider = version.group(1) if version else None
    return RootConstraints(required.group(1) if required else None, provider)


def read_root_constraints(root: Path) -> RootConstraints:
    """The constraints of every ``*.tf`` file of ``root`` (the first of each found)."""
    terraform: str | None = None
    provider: str | None = None
    for path in sorted(root.glob("*.tf")):
        found = parse_versions_tf(path.read_text(encoding="utf-8"))
        terraform = terraform or found.terraform
        provider = provider or found.aws_provider
    return RootConstraints(terraform, provider)


def default_root(cwd: Path | None = None) -> Path:
    """``terraform/live/aws`` under the current directory, else under this source checkout."""
    here = (cwd or Path.cwd()) / ROOT_RELATIVE
    if here.is_dir():
        return here
    checkout = Path(mlops_pipeline.__file__).resolve().parents[2] / ROOT_RELATIVE
    return checkout if checkout.is_dir() else here


@dataclass(frozen=True)
class DoctorInputs:
    """What the checks need from the root's variables (tfvars, defaults, command-line overrides)."""

    region: str
    stage_account_id: str
    prod_account_id: str
    target_admin_role_name: str
    slack_channel: str = ""
    repository_name: str = "models"
    chatbot_configured: bool = False
    chatbot_region: str = ""  # empty: the provider region (live/aws creates Chatbot with it)
    mlflow_front_door: str = "api_gateway"
    existing_network: bool = False
    name_prefix: str = "mlops"
    git_source: str = "codecommit"  # codecommit, github or gitlab (the git host)
    notes: tuple[str, ...] = field(default=(), compare=False)

    def role_arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:role/{self.target_admin_role_name}"

    @property
    def effective_chatbot_region(self) -> str:
        return self.chatbot_region or self.region


def _text(value: TfValue) -> str:
    if value is None or isinstance(value, RawValue):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_inputs(
    tfvars: Mapping[str, TfValue],
    defaults: Mapping[str, TfValue] | None = None,
    overrides: Mapping[str, str | None] | None = None,
) -> DoctorInputs:
    """Command-line overrides win over tfvars, tfvars over the variables' defaults."""
    base: dict[str, TfValue] = dict(FALLBACK_DEFAULTS)
    base.update(defaults or {})
    base.update(tfvars)
    for key, value in (overrides or {}).items():
        if value is not None:
            base[key] = value

    def get(key: str) -> str:
        return _text(base.get(key)).strip()

    return DoctorInputs(
        region=get("region"),
        stage_account_id=get("stage_account_id"),
        prod_account_id=get("prod_account_id"),
        target_admin_role_name=get("target_admin_role_name"),
        slack_channel=get("slack_channel"),
        repository_name=get("repository_name") or "models",
        chatbot_configured=base.get("chatbot") is not None,
        chatbot_region=get("chatbot_region"),
        mlflow_front_door=get("mlflow_front_door") or "api_gateway",
        existing_network=base.get("existing_network") is not None,
        name_prefix=get("name_prefix") or "mlops",
        git_source=get("git_source") or "codecommit",
    )


def load_inputs(
    root: Path, var_file: Path | None = None, overrides: Mapping[str, str | None] | None = None
) -> DoctorInputs:
    """Inputs from ``root`` (variables.tf defaults, ``var_file`` or ``root/terraform.tfvars``)."""
    notes: list[str] = []
    variables = root / "variables.tf"
    defaults = parse_variable_defaults(variables.read_text(encoding="utf-8")) if variables.is_file() else {}
    path = var_file if var_file is not None else root / "terraform.tfvars"
    tfvars: dict[str, TfValue] = {}
    if path.is_file():
        tfvars = parse_tfvars(path.read_text(encoding="utf-8"))
        notes.append(f"variables from {path}")
    else:
        notes.append(f"no {path}: variable defaults and command-line options only")
    return replace(build_inputs(tfvars, defaults, overrides), notes=tuple(notes))
