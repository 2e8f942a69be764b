"""The demo's summary: the panel, a prediction with its class probabilities, how the model is served."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlops_pipeline.domain.evaluation import serving_summary
from mlops_pipeline.local.stack.demo_traffic import TrafficCount
from mlops_pipeline.local.stack.state import StackInfo, slack_location

if TYPE_CHECKING:
    from mlops_pipeline.local.stack.demo import DemoResult


def print_summary(result: DemoResult, info: StackInfo, console: Console) -> None:
    """The human-readable summary (the machine-readable last line is printed by the caller)."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("outcome", result.outcome)
    table.add_row("commit", result.commit[:12])
    table.add_row("execution", result.execution.rsplit(":", 1)[-1])
    if result.model_name:
        table.add_row("model", f"{result.model_name} v{result.model_version or '-'}")
    if result.functions:  # the model's own inference functions (one per declared model)
        table.add_row("function", functions_text(result.functions))
    evaluation = result.evaluation
    if evaluation.get("metric"):
        metric = evaluation["metric"]
        candidate = _number(evaluation.get("candidate"))
        if evaluation.get("champion_version"):
            comparison = (
                f"{metric} {candidate} vs champion v{evaluation['champion_version']} "
                f"{_number(evaluation.get('champion'))} ({evaluation.get('direction')} is better)"
            )
        else:
            comparison = f"{metric} {candidate} (no champion yet)"
        table.add_row("gate", f"{'passed' if evaluation.get('passed') else 'failed'}: {comparison}")
        table.add_row(
            "metrics", ", ".join(f"{k}={v:.4g}" for k, v in (evaluation.get("metrics") or {}).items())
        )
    if serving_text(evaluation):
        table.add_row("serving", Text(serving_text(evaluation)))  # Text: a reason may hold [brackets]
    table.add_row("stage live", f"v{result.stage_version}" if result.stage_version else "-")
    table.add_row("prod live", f"v{result.prod_version}" if result.prod_version else "-")
    if result.approver:
        table.add_row("approved by", result.approver)
    if result.rollout is not None:
        table.add_row("rollout", Text(rollout_text(result.rollout)))  # Text: a reason may hold [brackets]
    if result.outcome != "succeeded" and result.error:
        table.add_row("error", f"{result.error}: {result.cause or ''}"[:300])
    if result.failed_log is not None:
        failed_step, log = result.failed_log
        table.add_row(f"{failed_step} log", Text("\n".join(log.lines) or log.error))  # Text: no markup
        table.add_row("full log", Text(log.location or "-"))
    for step in result.steps:
        table.add_row(f"  {step.name}", f"{step.seconds or 0:.1f}s {step.status}")
    table.add_row("total", f"{result.total_seconds:.1f}s")
    table.add_row("MLflow UI", info.mlflow_url)
    table.add_row("Slack inbox", slack_location(info))
    console.print(Panel(table, title="demo summary", expand=False))
    if result.prediction is not None:
        response = result.prediction["response"]
        console.print(
            Text("prediction from prod (alias live): ", style="bold") + Text(prediction_text(response)),
            highlight=False,
        )


def functions_text(functions: Mapping[str, str]) -> str:
    """``mlops-churn (stage, prod)``, or each environment's name when they differ."""
    names = set(functions.values())
    if len(names) == 1:
        return f"{names.pop()} ({', '.join(functions)})"
    return ", ".join(f"{environment}: {name}" for environment, name in functions.items())


def prediction_text(response: Mapping[str, Any]) -> str:
    """One prediction per row; a classifier's row also shows each class with its probability.

    ``response`` is the serving runtime's answer (``predictions`` and, for classifiers,
    ``probabilities`` whose columns follow ``classes``); anything else is shown as JSON.
    """
    predictions = response.get("predictions")
    probabilities = response.get("probabilities")
    if not isinstance(predictions, list):
        return json.dumps(dict(response))
    if not isinstance(probabilities, list) or len(probabilities) != len(predictions):
        return json.dumps(predictions)
    classes = response.get("classes")
    rows = []
    for label, row in zip(predictions, probabilities, strict=True):
        names: Sequence[Any] = classes if isinstance(classes, list) else range(len(row))
        shown = ", ".join(f"{name}: {_probability(p)}" for name, p in zip(names, row, strict=False))
        rows.append(f"{label} ({shown})")
    return "; ".join(rows)


def serving_text(evaluation: Mapping[str, Any]) -> str:
    """``onnx`` or ``skops (fallback: <why>)`` from the Evaluate step's output ("" unknown)."""
    return serving_summary(evaluation.get("serving_flavor"), evaluation.get("serving_fallback_reason"))


def _probability(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else str(value)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)


@dataclass(frozen=True)
class RolloutReport:
    """How prod moved to the new version, with what the demo's traffic saw during the bake."""

    mode: str  # gradual | all_at_once
    new_version: str
    previous_version: str = ""
    steps: tuple[int, ...] = ()  # the new version's shares of live that were reached, in order
    served: Mapping[str, int] = field(default_factory=dict)  # the demo's requests answered, per version
    failed: Mapping[str, int] = field(default_factory=dict)  # of those, the errors per version
    rolled_back: bool = False
    breach: str = ""  # why it was rolled back (the bake's verdict, naming the metric)


def rollout_text(report: RolloutReport) -> str:
    """``50 % → 100 %: v3 served 18 of 37 requests during the bake, 0 errors``; on a rollback the
    breach (with its metric) and how many requests the bad version served."""
    new, previous = f"v{report.new_version}", f"v{report.previous_version or '?'}"
    if report.mode != "gradual":
        return f"all at once: {new} took 100 % of live" + (
            f" from {previous}" if report.previous_version else ""
        )
    steps = " → ".join(f"{step} %" for step in report.steps) or "0 %"
    total, own = sum(report.served.values()), report.served.get(report.new_version, 0)
    if report.rolled_back:
        why = report.breach or "the bake could not be judged"
        traffic = (
            f"{new} served {own} of {total} requests before the rollback "
            f"({_plural(report.failed.get(report.new_version, 0), 'error')})"
            if total
            else "the demo sent no requests during the bake"
        )
        return f"{steps}, rolled back: {why}; {traffic}; live back on {previous}"
    if not total:
        return f"{steps}: no requests from the demo during the bake"
    return (
        f"{steps}: {new} served {own} of {total} requests during the bake, "
        f"{_plural(sum(report.failed.values()), 'error')}"
    )


def rollout_report(
    outputs: Mapping[str, Any], traffic: TrafficCount | None, succeeded: bool
) -> RolloutReport | None:
    """The report from the run's state outputs (None: prod was not deployed, or an all-at-once
    deploy that did not succeed) and the traffic generator's counts."""
    deploy = _newest(outputs, "deploy_prod")
    if not deploy.get("new_version"):
        return None
    new, previous = str(deploy["new_version"]), str(deploy.get("previous_version") or "")
    if not deploy.get("gradual"):
        return RolloutReport("all_at_once", new, previous) if succeeded else None
    rollback = outputs.get("RollbackRolloutProd")
    rolled_back = isinstance(rollback, Mapping)
    states = [
        o["rollout_prod"]
        for o in outputs.values()
        if isinstance(o, Mapping) and isinstance(o.get("rollout_prod"), Mapping)
    ]
    weight = max((int(s.get("weight") or 0) for s in states), default=0)
    policy: Mapping[str, Any] = next(
        (s["policy"] for s in states if isinstance(s.get("policy"), Mapping)), {}
    )
    planned = [int(p) for p in str(policy.get("ROLLOUT_STEPS", "")).split(",") if p.strip().isdigit()]
    steps = [p for p in planned if p <= weight] or (list(traffic.weights) if traffic else [])
    if succeeded and (not steps or steps[-1] != 100):
        steps.append(100)
    return RolloutReport(
        "gradual",
        new,
        previous,
        tuple(steps),
        dict(traffic.served) if traffic else {},
        dict(traffic.failed) if traffic else {},
        rolled_back,
        _breach(rollback.get("error")) if isinstance(rollback, Mapping) else "",
    )


def _newest(outputs: Mapping[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for output in outputs.values():
        if isinstance(output, Mapping) and isinstance(output.get(key), Mapping):
            found = dict(output[key])
    return found


def _breach(error: Any) -> str:
    """The RolloutBreachError's message from a Catch's ``{"Error", "Cause"}`` (Lambda's JSON cause)."""
    if not isinstance(error, Mapping):
        return ""
    cause = str(error.get("Cause") or "")
    try:
        parsed = json.loads(cause)
        cause = str(parsed.get("errorMessage") or cause) if isinstance(parsed, dict) else cause
    except ValueError:
        pass
    name = str(error.get("Error") or "")
    if name and name != "RolloutBreachError":
        cause = f"{name}: {cause}" if cause else name
    return re.sub(r"\s+", " ", cause).strip()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
