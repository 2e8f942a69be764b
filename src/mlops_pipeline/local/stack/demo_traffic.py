"""The demo's traffic generator: callers of prod's ``live`` while a gradual rollout bakes.

A bake is judged on the new version's CloudWatch metrics, and a bake without requests cannot
pass; on AWS real clients call the alias, locally nobody does. So while the run is RUNNING a
thread calls ``<model function>:live`` in prod, one request at a time, whenever the alias routes
to two versions (``RoutingConfig.AdditionalVersionWeights`` non-empty), and counts the answers
per ``ExecutedVersion`` (the emulator honours the weights) and the errors.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_pipeline.local.stack.state import StackInfo

PAUSE_SECONDS = 0.2  # between two requests: a small, steady load
IDLE_SECONDS = 0.5  # between two looks at the alias while it routes to one version


@dataclass
class TrafficCount:
    """What the generator's requests got: answers and errors per version, the shares it saw."""

    served: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    # The new version's share of live each time the generator saw it change (e.g. [50]).
    weights: list[int] = field(default_factory=list)
    new_version: str = ""  # the version in AdditionalVersionWeights

    @property
    def total(self) -> int:
        return sum(self.served.values())

    def text(self) -> str:
        """One line for the progress display ("" before the first request)."""
        if not self.total:
            return ""
        versions = ", ".join(f"v{v}: {n}" for v, n in sorted(self.served.items(), key=lambda i: int(i[0])))
        share = f" at {self.weights[-1]} % to v{self.new_version}" if self.weights else ""
        errors = sum(self.failed.values())
        return f"traffic to prod live{share}: {self.total} requests ({versions}), {errors} error{'' if errors == 1 else 's'}"


class TrafficGenerator:
    """A thread calling prod's ``live`` of ``model`` while its alias routes to two versions.

    ``request`` is the payload (the model's smoke example, set once the run's Evaluate step
    named it); the thread waits until it is set.
    """

    def __init__(self, info: StackInfo, model: str, pause: float = PAUSE_SECONDS) -> None:
        self.info, self.model, self.pause = info, model, pause
        self.request: Mapping[str, Any] | None = None
        self.count = TrafficCount()
        self.error: str = ""  # why the thread stopped early ("" while it runs or after stop())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"traffic-{model}", daemon=True)

    def __enter__(self) -> TrafficGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def snapshot(self) -> TrafficCount:
        """A copy of the counts so far (the thread keeps counting)."""
        with self._lock:
            return TrafficCount(
                Counter(self.count.served),
                Counter(self.count.failed),
                list(self.count.weights),
                self.count.new_version,
            )

    def _lambda(self) -> Any:
        import boto3

        # A session of its own: boto3's default session is not safe to share across threads.
        keys = self.info.credentials["prod"]
        return boto3.session.Session().client(
            "lambda",
            endpoint_url=self.info.endpoint_url,
            region_name=self.info.region,
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )

    def _run(self) -> None:
        try:
            lam = self._lambda()
            function = self.info.function_of(self.model, "prod")
            while not self._stop.is_set():
                routing = lam.get_alias(FunctionName=function, Name="live").get("RoutingConfig") or {}
                weights = routing.get("AdditionalVersionWeights") or {}
                if not weights or self.request is None:
                    self._stop.wait(IDLE_SECONDS)
                    continue
                self._note_weights(weights)
                answer = lam.invoke(
                    FunctionName=f"{function}:live", Payload=json.dumps(dict(self.request)).encode()
                )
                answer["Payload"].read()
                version = str(answer.get("ExecutedVersion", "?"))
                with self._lock:
                    self.count.served[version] += 1
                    if answer.get("FunctionError"):
                        self.count.failed[version] += 1
                self._stop.wait(self.pause)
        except Exception as exc:  # the demo goes on without traffic; the bake's verdict shows it
            self.error = f"{type(exc).__name__}: {exc}"

    def _note_weights(self, weights: Mapping[str, Any]) -> None:
        version, share = next(iter(weights.items()))
        percent = round(float(share) * 100)
        with self._lock:
            self.count.new_version = str(version)
            if not self.count.weights or self.count.weights[-1] != percent:
                self.count.weights.append(percent)


def smoke_request(outputs: Mapping[str, Any], model: str) -> Mapping[str, Any] | None:
    """``model``'s smoke example from the run's state outputs (None until Evaluate named it)."""
    for output in outputs.values():
        named = output.get("model") if isinstance(output, Mapping) else None
        if isinstance(named, Mapping) and named.get("model_name") == model and named.get("smoke_input"):
            request = named["smoke_input"]
            return request if isinstance(request, Mapping) else None
    return None
