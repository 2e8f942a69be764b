"""The background process of ``mlops-pipeline local up``.

moto serves from inside a Python process, so the emulator (and the servers that go with
it) live here: ``python -m mlops_pipeline.local.stack.daemon --state-dir DIR ...`` starts the
:class:`~mlops_pipeline.local.stack.runner.LocalStack`, writes ``<DIR>/stack.json`` once it is
ready and runs until SIGTERM/SIGINT, when it stops everything it started and removes the
state file. A start-up failure is written to ``<DIR>/daemon-error.txt`` for ``local up``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from mlops_pipeline.local.stack.runner import LocalStack
from mlops_pipeline.local.stack.state import (
    DEFAULT_MODELS,
    ERROR_FILE,
    ROLLOUT_CHOICES,
    StackOptions,
    slack_location,
    state_file,
)
from mlops_pipeline.local.stack.webhook_endpoint import GIT_HOSTS


def parse_args(argv: Sequence[str] | None = None) -> StackOptions:
    parser = argparse.ArgumentParser(prog="python -m mlops_pipeline.local.stack.daemon")
    parser.add_argument("--state-dir", type=Path, required=True)
    for name in ("emulator", "mlflow", "slack", "gateway"):
        parser.add_argument(f"--{name}-port", type=int, default=0)
    parser.add_argument("--terraform", action="store_true")
    parser.add_argument("--approval-timeout", type=int, default=1800)
    parser.add_argument("--approvers", default="U0APPROVER")
    parser.add_argument("--git-host", choices=GIT_HOSTS, default="codecommit")
    # The declared models (Terraform's `models`), one --model each; none: DEFAULT_MODELS.
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--rollout", choices=ROLLOUT_CHOICES, default="gradual")
    args = parser.parse_args(argv)
    return StackOptions(
        state_dir=args.state_dir.resolve(),
        emulator_port=args.emulator_port,
        mlflow_port=args.mlflow_port,
        slack_port=args.slack_port,
        gateway_port=args.gateway_port,
        terraform=args.terraform,
        approval_timeout_seconds=args.approval_timeout,
        approvers=tuple(a for a in args.approvers.split(",") if a),
        git_host=args.git_host,
        models=tuple(args.models or DEFAULT_MODELS),
        rollout=args.rollout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack until signalled; 0 after a clean stop, 1 when start-up failed."""
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _serve(options, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(options: StackOptions, stop: threading.Event) -> int:
    stack = LocalStack(options)
    path = state_file(options.state_dir)
    try:
        info = stack.start()
    except BaseException as exc:
        message = f"the local stack could not start: {type(exc).__name__}: {exc}"
        (options.state_dir / ERROR_FILE).write_text(message + "\n", encoding="utf-8")
        logging.getLogger(__name__).error("%s\n%s", message, traceback.format_exc())
        return 1
    try:
        if stop.is_set():
            return 0
        info.save(path)
        logging.getLogger(__name__).info(
            "local stack ready in %.1fs: emulator %s, MLflow %s, Slack %s",
            info.timings.get("total", 0.0),
            info.endpoint_url,
            info.mlflow_url,
            slack_location(info),
        )
        while not stop.wait(1.0):
            pass
        logging.getLogger(__name__).info("stopping the local stack")
        return 0
    finally:
        stack.stop()
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
