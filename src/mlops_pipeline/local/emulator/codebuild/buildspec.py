"""The buildspec: parsing a version 0.2 document and the bash script that runs one phase."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_pipeline.local.emulator.codebuild.errors import BuildspecError

#: The buildspec phases in the order CodeBuild runs them, with their buildspec keys.
BUILD_PHASES: tuple[tuple[str, str], ...] = (
    ("INSTALL", "install"),
    ("PRE_BUILD", "pre_build"),
    ("BUILD", "build"),
    ("POST_BUILD", "post_build"),
)


@dataclass(frozen=True)
class PhaseSpec:
    """One phase: its commands, its ``finally`` commands and what a failure does."""

    commands: tuple[str, ...] = ()
    finally_commands: tuple[str, ...] = ()
    on_failure: str = "ABORT"


@dataclass(frozen=True)
class Buildspec:
    """A parsed buildspec: variables, exported variables, phases by phase type, shell."""

    variables: Mapping[str, str] = field(default_factory=dict)
    exported_variables: tuple[str, ...] = ()
    phases: Mapping[str, PhaseSpec] = field(default_factory=dict)
    shell: str = "bash"


def _as_commands(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(c, str | int | float) for c in value):
        return tuple(str(c) for c in value)
    raise BuildspecError(f"{where} must be a list of commands")


def parse_buildspec(text: str) -> Buildspec:
    """Parse a buildspec YAML document (version 0.2); BuildspecError if it is not one."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BuildspecError(f"buildspec is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or "phases" not in doc:
        raise BuildspecError("buildspec must be a mapping with 'phases'")
    env = doc.get("env") or {}
    if not isinstance(env, dict):
        raise BuildspecError("buildspec 'env' must be a mapping")
    variables = env.get("variables") or {}
    if not isinstance(variables, dict):
        raise BuildspecError("buildspec 'env.variables' must be a mapping")
    exported = env.get("exported-variables") or []
    if not isinstance(exported, list):
        raise BuildspecError("buildspec 'env.exported-variables' must be a list")
    raw_phases = doc.get("phases") or {}
    if not isinstance(raw_phases, dict):
        raise BuildspecError("buildspec 'phases' must be a mapping")
    known = {key for _, key in BUILD_PHASES}
    unknown = set(raw_phases) - known
    if unknown:
        raise BuildspecError(f"unknown buildspec phases: {sorted(unknown)}; valid: {sorted(known)}")
    phases: dict[str, PhaseSpec] = {}
    for phase_type, key in BUILD_PHASES:
        raw = raw_phases.get(key)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise BuildspecError(f"phase {key} must be a mapping")
        on_failure = str(raw.get("on-failure", "ABORT")).upper()
        if on_failure not in {"ABORT", "CONTINUE"}:
            raise BuildspecError(f"phase {key}: on-failure must be ABORT or CONTINUE")
        phases[phase_type] = PhaseSpec(
            commands=_as_commands(raw.get("commands"), f"phases.{key}.commands"),
            finally_commands=_as_commands(raw.get("finally"), f"phases.{key}.finally"),
            on_failure=on_failure,
        )
    return Buildspec(
        variables={str(k): "" if v is None else str(v) for k, v in variables.items()},
        exported_variables=tuple(str(v) for v in exported),
        phases=phases,
        shell=str(env.get("shell", "bash")),
    )


def phase_script(spec: PhaseSpec, env_out: Path, cwd_out: Path) -> str:
    """The bash script of one phase: commands stop at the first failure, ``finally`` always runs.

    On exit the shell writes its environment and working directory so the next phase starts
    where this one ended.
    """
    lines = [
        f"__mlops_dump() {{ env -0 > {shlex.quote(str(env_out))}; pwd > {shlex.quote(str(cwd_out))}; }}",
        "trap __mlops_dump EXIT",
        "__mlops_status=0",
    ]

    def guarded(command: str, guard: str) -> list[str]:
        quoted = shlex.quote(command)
        return [
            f"if [ {guard} ]; then",
            f"printf '[Container] Running command %s\\n' {quoted}",
            command,
            "__mlops_rc=$?",
            'if [ "$__mlops_rc" -ne 0 ]; then',
            f"printf '[Container] Command did not exit successfully %s exit status %s\\n' {quoted} "
            '"$__mlops_rc"',
            '__mlops_status="$__mlops_rc"',
            "fi",
            "fi",
        ]

    for command in spec.commands:
        lines += guarded(command, '"$__mlops_status" -eq 0')
    if spec.finally_commands:
        lines.append("__mlops_finally_status=0")
        for command in spec.finally_commands:
            body = guarded(command, '"$__mlops_finally_status" -eq 0')
            # A failing finally command fails the phase too.
            body = [
                line.replace('__mlops_status="$__mlops_rc"', '__mlops_finally_status="$__mlops_rc"')
                for line in body
            ]
            lines += body
        lines.append('if [ "$__mlops_status" -eq 0 ]; then __mlops_status="$__mlops_finally_status"; fi')
    lines.append('exit "$__mlops_status"')
    return "\n".join(lines) + "\n"
