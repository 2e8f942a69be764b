"""The demo's summary: the panel, a prediction with its class probabilities, how the model is served."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlops_pipeline.domain.evaluation import serving_summary
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
