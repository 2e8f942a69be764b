"""What a cold start of the interactions endpoint imports before it can answer Slack.

Slack gives the endpoint 3 seconds. Each check runs in a fresh interpreter (a cold Lambda
container), imports what the endpoint imports and lists ``sys.modules``: slack_sdk's Web API
client (a few hundred ms) must load only once a click is verified and something is posted,
never just to import the handler or to refuse a forged request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"

PROBE = """
import importlib, json, sys
sys.path.insert(0, {src!r})
for name in {modules!r}:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after_importing(*modules: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``modules``."""
    code = PROBE.format(src=str(SRC), modules=list(modules))
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert all(m in loaded for m in modules)  # the probe imported what it says it did
    return loaded


def _under(loaded: set[str], package: str) -> list[str]:
    return sorted(m for m in loaded if m == package or m.startswith(package + "."))


def test_importing_the_interactions_handler_loads_no_slack_client_and_no_mlflow() -> None:
    loaded = loaded_after_importing("mlops_pipeline.handlers.slack_interactions")

    assert _under(loaded, "slack_sdk.web") == []
    assert _under(loaded, "mlflow") == []  # not even in the interactions function's package


@pytest.mark.parametrize(
    "module",
    [
        "mlops_pipeline.adapters.slack",
        "mlops_pipeline.adapters.slack.errors",
        "mlops_pipeline.adapters.slack.signature",
        "mlops_pipeline.adapters.slack.interactions",
    ],
)
def test_verifying_and_parsing_a_click_loads_no_slack_sdk(module: str) -> None:
    # What the endpoint needs to refuse a forged or malformed request: the standard library.
    assert _under(loaded_after_importing(module), "slack_sdk") == []


def test_the_package_still_offers_its_names_lazily() -> None:
    import mlops_pipeline.adapters.slack as slack
    from mlops_pipeline.adapters.slack.client import SlackNotifier
    from mlops_pipeline.adapters.slack.signature import verify_request

    assert slack.SlackNotifier is SlackNotifier
    assert slack.verify_request is verify_request
    assert set(slack.__all__) <= set(dir(slack))
    assert all(getattr(slack, name) is not None for name in slack.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = slack.nothing_here
