"""Interactions benchmark: Slack click -> HTTP answer of the interactions endpoint, warm and cold.

Slack gives an interactivity endpoint 3 seconds to answer. This provisions the pipeline into
the emulator with the ASL tier's harness (``PipelineStack``), fronts the deployed
``slack_interactions`` function with the local API Gateway (``InteractionsGateway``) and clicks
"Approve" from the Slack stand-in (a correctly signed ``block_actions`` POST, exactly as the
stand-in sends it), timing click -> HTTP answer on the client side.

Every click decides a real pending approval: each comes from an execution of a one-state
machine whose ``waitForTaskToken`` task invokes the deployed ``request_approval`` function (as
the pipeline's ``RequestApproval`` state does), so the click does the full work - signature,
secret read, DynamoDB read + conditional write, Slack user lookup, ``SendTaskSuccess`` to a
task that really waits, ``chat.update`` of the card, the thread's progress line.

Warm and cold: the emulator's Lambda runtime starts a fresh process for *every* invocation
(so every click on the local stack is a cold start). To have warm containers as on AWS, this
benchmark activates, for its own process only, a runtime with a worker pool (``PooledRuntime``,
a subclass): a worker is a long-lived process started exactly as the stock runtime starts one
(same command, environment, role credentials, task root) that serves invocations one after
another; dropping the pool forces the next invocation to start a new process (a cold start,
like a configuration update on AWS). A few clicks also go through the stock runtime as a
cross-check of the cold figure (its bootstrap ends the process as soon as the result is written,
so neither waits for the interpreter's teardown; Lambda answers when the handler returns).

``--ack N`` adds N cold + N warm clicks on a prototype of an acknowledge-first endpoint
(``ACK_HANDLER``: verify, record the click, hand off with InvocationType=Event, answer 200),
whose hand-off then decides through the real function.

Interleaved so that every kind sees the same machine load: each cold click (pool dropped
first) is followed by its share of the warm clicks on the worker it started; the stock clicks
and the prototype's pairs are spread over the same rounds. For every click the worker
reports where its time went (exclusive times: imports, boto3 client creation, each AWS call,
each Slack call, the rest of the handler) and when it started, so the cold path is broken
down into interpreter start, imports, secret read, DynamoDB, SendTaskSuccess, Slack calls.

Side effects are checked after the timed clicks: every clicked approval is APPROVED, its
execution SUCCEEDED (the task token was answered) and its card lost its buttons.

The last line is machine-readable:
``interactions: warm_p50_ms=.. warm_p99_ms=.. cold_p50_ms=.. cold_p99_ms=.. samples=W/C``.

Run: ``python benchmarks/interactions.py [--warm 100] [--cold 20] [--stock 3] [--ack 10]``
(loopback only, a few minutes at most; everything it starts is stopped on exit).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import secrets
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from moto.awslambda.models import LambdaFunction  # noqa: E402

from mlops_pipeline.local.emulator import lambda_runtime, moto_fixes  # noqa: E402
from mlops_pipeline.local.emulator.lambda_runtime import Invocation, LambdaRuntime  # noqa: E402

# Made up per run: the stand-in Slack and the deployed function share them, nothing else does.
BOT_TOKEN = f"xoxb-local-{secrets.token_hex(8)}"
SIGNING_SECRET = secrets.token_hex(16)
APPROVER = "U0APPROVER"
AUTHOR_EMAIL = "author@example.com"  # the git author: shown on the card, never trusted
# Who pushed, as the trusted trigger names it, and the stand-in's data scientist it maps to: a
# resolved author keeps the quorum at one approver, so one click decides.
PUSHER = "arn:aws:iam::111111111111:user/emulator-admin"
PUSHER_SLACK_ID = "U0AUTHOR"
SLACK_LIMIT_MS = 3000.0
MAX_WORKERS_PER_FUNCTION = 8

# --------------------------------------------------------------------------- the worker

# A warm container: started like lambda_bootstrap (same interpreter flags, cwd = task root,
# the function's environment), it imports the handler once (Lambda's init phase), then serves
# one JSON event per stdin line and writes one JSON result per line to the result fd. It also
# times where each invocation's time goes (exclusive times, nested regions subtracted).
WORKER = r"""
import builtins, json, os, sys, time
T_START = time.monotonic()
result_fd, handler_name = int(sys.argv[1]), sys.argv[2]

class Profile:
    def __init__(self):
        self.totals, self.stack = {}, []
    def enter(self, label):
        self.stack.append([label, time.perf_counter(), 0.0])
    def exit(self):
        label, start, child = self.stack.pop()
        elapsed = time.perf_counter() - start
        self.totals[label] = self.totals.get(label, 0.0) + (elapsed - child) * 1000
        if self.stack:
            self.stack[-1][2] += elapsed
    def take(self):
        out, self.totals = self.totals, {}
        return out

P = Profile()
_import = builtins.__import__

def timed_import(name, globals=None, locals=None, fromlist=(), level=0):
    if P.stack and P.stack[-1][0].startswith("import"):
        return _import(name, globals, locals, fromlist, level)
    if level == 0 and name in sys.modules:
        module = sys.modules[name]
        if not fromlist or all(hasattr(module, f) for f in fromlist):
            return _import(name, globals, locals, fromlist, level)
    P.enter("import (lazy)")
    try:
        return _import(name, globals, locals, fromlist, level)
    finally:
        P.exit()

def wrap(cls, attr, label_of):
    original = getattr(cls, attr)
    def wrapper(self, *args, **kwargs):
        P.enter(label_of(self, *args, **kwargs))
        try:
            return original(self, *args, **kwargs)
        finally:
            P.exit()
    setattr(cls, attr, wrapper)

def patch_botocore_client(module):
    wrap(module.BaseClient, "_make_api_call",
         lambda self, op, *a, **k: f"aws {self.meta.service_model.service_name}.{op}")

def patch_botocore_session(module):
    wrap(module.Session, "create_client", lambda self, service, *a, **k: f"client {service}")

def patch_slack(module):
    wrap(module.BaseClient, "api_call", lambda self, method, *a, **k: f"slack {method}")

PATCHES = {"botocore.client": patch_botocore_client, "botocore.session": patch_botocore_session,
           "slack_sdk.web.base_client": patch_slack}

class PatchOnImport:
    # Patches the modules above when (and only when) the handler first imports them.
    def find_spec(self, name, path=None, target=None):
        if name not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module
        def patched(module, exec_module=exec_module):
            exec_module(module)
            PATCHES[name](module)
        spec.loader.exec_module = patched
        return spec

P.enter("bootstrap")
from mlops_pipeline.local.emulator import lambda_bootstrap as boot
boot._prefer_task_root(os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd())
P.exit()
sys.meta_path.insert(0, PatchOnImport())
builtins.__import__ = timed_import
P.enter("import (init)")
loaded = boot._load_handler(handler_name)
P.exit()
T_READY = time.monotonic()
init = P.take()
out = os.fdopen(result_fd, "w")
for line in sys.stdin:
    request = json.loads(line)
    t_recv = time.monotonic()
    context = boot.LambdaContext(request["request_id"], request["invoked_arn"], request["deadline_ms"])
    P.enter("handler code")
    outcome = boot.run(handler_name, request["event"], context)
    P.exit()
    sys.stdout.flush()
    out.write(json.dumps({"outcome": outcome, "profile": P.take(), "init": init, "t_start": T_START,
                          "t_ready": T_READY, "t_recv": t_recv, "t_done": time.monotonic()}) + "\n")
    out.flush()
    init = None
"""


# Prototype of the acknowledge-first front, deployed by ``--ack`` as a function of its own:
# verify the signature, record the click (conditional write), hand the verified event to the
# real function (InvocationType=Event, which re-verifies it and decides), answer 200. It
# imports boto3 and the standard library only: the floor of what an ack path costs.
ACK_HANDLER = r"""
import base64, hashlib, hmac, json, os, time
from urllib.parse import parse_qs

import boto3

CLIENTS, SECRET = {}, []


def client(name):
    if name not in CLIENTS:
        CLIENTS[name] = boto3.client(name)
    return CLIENTS[name]


def signing_secret():
    if not SECRET:
        arn = os.environ.get("SLACK_SIGNING_SECRET_ARN") or os.environ["SLACK_SECRET_ARN"]
        document = client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        SECRET.append(json.loads(document)["signing_secret"])
    return SECRET[0]


def answer(status):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": "{}"}


def handler(event, context):
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    stamp = headers.get("x-slack-request-timestamp", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return answer(401)
    base = b"v0:" + stamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(signing_secret().encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("x-slack-signature", "")):
        return answer(401)
    payload = json.loads(parse_qs(raw.decode())["payload"][0])
    action = payload["actions"][0]
    click = f"CLICK#{action['value']}#{payload['user']['id']}#{action['action_id']}"
    ddb = client("dynamodb")
    try:
        ddb.put_item(
            TableName=os.environ["MLOPS_TABLE"],
            Item={"pk": {"S": click}, "sk": {"S": "CLICK"}, "at": {"N": str(int(time.time()))}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return answer(200)  # Slack's retry of a click already handed off
    client("lambda").invoke(
        FunctionName=os.environ["DECIDE_FUNCTION"], InvocationType="Event", Payload=json.dumps(event).encode()
    )
    return answer(200)
"""
ACK_FUNCTION = "bench-ack-first"


def deploy_ack_prototype(emu: Any, stack: Any, interactions: str) -> str:
    """Deploy ``ACK_HANDLER`` with the real function's code, role and environment; its name."""
    import io
    import zipfile

    from mlops_pipeline.local.stack.harness import source_zip

    buffer = io.BytesIO(source_zip())
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bench_ack.py", ACK_HANDLER)
    lam = emu.client("lambda")
    real = lam.get_function_configuration(FunctionName=interactions)
    env = dict(real.get("Environment", {}).get("Variables", {}))
    env["DECIDE_FUNCTION"] = interactions
    lam.create_function(
        FunctionName=ACK_FUNCTION,
        Runtime=real.get("Runtime", "python3.12"),
        Role=real["Role"],
        Handler="bench_ack.handler",
        Code={"ZipFile": buffer.getvalue()},
        Timeout=30,
        MemorySize=real.get("MemorySize", 512),
        Environment={"Variables": env},
    )
    return ACK_FUNCTION


@dataclass(eq=False)  # hashed by identity: a set of live workers
class Worker:
    key: tuple[str, ...]
    proc: subprocess.Popen[bytes]
    results: Any  # the read end of the result pipe (binary file)
    spawned_at: float
    generation: int
    served: int = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin and self.proc.stdin.close()
        self.proc.wait()
        self.results.close()


@dataclass
class Record:
    """What the runtime saw of one invocation (for the benchmark's report)."""

    function: str
    cold: bool
    pooled: bool
    invoke_ms: float  # runtime: invocation received -> result read
    spawn_to_start_ms: float | None = None  # interpreter start, up to the worker's first line
    init_ms: float | None = None  # worker's first line -> handler imported
    handler_ms: float | None = None  # worker: event received -> result written
    init_profile: dict[str, float] | None = None
    profile: dict[str, float] = field(default_factory=dict)


class PooledRuntime(LambdaRuntime):
    """The emulator's Lambda runtime plus warm workers for the functions in ``pooled``.

    Other functions (and the pooled ones when ``pooled`` does not name them) run as the stock
    runtime runs them: one process per invocation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pooled: set[str] = set()
        self.records: list[Record] = []
        self._idle: dict[tuple[str, ...], list[Worker]] = {}
        self._all: set[Worker] = set()
        self._pool_lock = threading.Lock()
        self._generation = 0
        self._log_dir = self.state_dir / "logs" / "lambda"

    def invoke(self, fn: LambdaFunction, payload: bytes, invoked_arn: str | None = None) -> Invocation:
        if fn.function_name not in self.pooled:
            started = time.monotonic()
            result = super().invoke(fn, payload, invoked_arn)
            self._record(Record(fn.function_name, True, False, (time.monotonic() - started) * 1000))
            return result
        return self._invoke_pooled(fn, payload, invoked_arn)

    def drop_warm(self) -> None:
        """Forget every warm worker: the next invocation of each function starts cold."""
        with self._pool_lock:
            self._generation += 1
            idle = [w for workers in self._idle.values() for w in workers]
            self._idle.clear()
            self._all.difference_update(idle)
        for worker in idle:
            worker.kill()

    def close(self, grace_seconds: float = 5.0) -> None:
        self.drop_warm()
        with self._pool_lock:
            busy = list(self._all)
        for worker in busy:
            worker.kill()
        super().close(grace_seconds)

    def _record(self, record: Record) -> None:
        with self._pool_lock:
            self.records.append(record)

    def _acquire(self, fn: LambdaFunction, key: tuple[str, ...]) -> tuple[Worker, bool]:
        with self._pool_lock:
            idle = self._idle.get(key) or []
            while idle:
                worker = idle.pop()
                if worker.alive():
                    return worker, False
                self._all.discard(worker)
                worker.kill()  # exited on its own: reap it
            if sum(1 for w in self._all if w.key[0] == key[0]) >= MAX_WORKERS_PER_FUNCTION:
                raise RuntimeError(f"more than {MAX_WORKERS_PER_FUNCTION} concurrent {fn.function_name}")
            generation = self._generation
        code = self._code(fn)
        env = self.environment(fn, code, str(uuid.uuid4()))
        read_fd, write_fd = os.pipe()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with (self._log_dir / f"{fn.function_name}.pooled.log").open("ab") as log:
            spawned_at = time.monotonic()
            proc = subprocess.Popen(
                [self.python, "-P", "-c", WORKER, str(write_fd), code.handler],
                cwd=code.task_root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        os.close(write_fd)
        worker = Worker(key, proc, os.fdopen(read_fd, "rb"), spawned_at, generation)
        with self._pool_lock:
            self._all.add(worker)
        return worker, True

    def _release(self, worker: Worker) -> None:
        with self._pool_lock:
            keep = worker.alive() and worker.generation == self._generation
            if keep:
                self._idle.setdefault(worker.key, []).append(worker)
            else:
                self._all.discard(worker)
        if not keep:
            worker.kill()

    def _invoke_pooled(self, fn: LambdaFunction, payload: bytes, invoked_arn: str | None) -> Invocation:
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        timeout = float(fn.timeout or 3)
        key = (fn.function_name, str(fn.code_sha_256), str(fn.last_modified))
        worker, cold = self._acquire(fn, key)
        request = {
            "event": json.loads(payload or b"{}"),
            "request_id": request_id,
            "invoked_arn": invoked_arn or fn.function_arn,
            "deadline_ms": int(time.time() * 1000 + timeout * 1000),
        }
        line = b""
        try:
            assert worker.proc.stdin is not None
            worker.proc.stdin.write(json.dumps(request).encode() + b"\n")
            worker.proc.stdin.flush()
            ready, _, _ = select.select([worker.results], [], [], timeout)
            line = worker.results.readline() if ready else b""
        except (BrokenPipeError, OSError):
            line = b""
        finally:
            if not line:
                worker.kill()  # timed out or died: a container that is not reused
            self._release(worker)
        invoke_ms = (time.monotonic() - started) * 1000
        if not line:
            error = {"errorType": "Sandbox.Timedout", "errorMessage": f"{request_id} no answer in {timeout}s"}
            self._record(Record(fn.function_name, cold, True, invoke_ms))
            return Invocation(request_id, json.dumps(error).encode(), "Unhandled", "", invoke_ms)
        data = json.loads(line)
        worker.served += 1
        self._record(
            Record(
                fn.function_name,
                cold,
                True,
                invoke_ms,
                spawn_to_start_ms=(data["t_start"] - worker.spawned_at) * 1000 if cold else None,
                init_ms=(data["t_ready"] - data["t_start"]) * 1000 if cold else None,
                handler_ms=(data["t_done"] - data["t_recv"]) * 1000,
                init_profile=data["init"],
                profile=data["profile"],
            )
        )
        outcome = data["outcome"]
        if outcome.get("ok"):
            return Invocation(request_id, json.dumps(outcome["payload"]).encode(), None, "", invoke_ms)
        return Invocation(request_id, json.dumps(outcome["error"]).encode(), "Unhandled", "", invoke_ms)


@contextlib.contextmanager
def pooled_runtime(emu: Any) -> Iterator[PooledRuntime]:
    """Make a ``PooledRuntime`` the emulator's active runtime; the stock one is back on exit."""
    stock = lambda_runtime.active()
    runtime = PooledRuntime(emu.state_dir, emu.endpoint_url, emu.region, moto_fixes.role_credentials)
    lambda_runtime.activate(runtime)
    try:
        yield runtime
    finally:
        lambda_runtime.activate(stock)
        runtime.close()


# --------------------------------------------------------------------------- measuring


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of an empty sample")
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


# The cold path's phases, in the terms: (title, labels of the worker profile).
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bootstrap (runtime module, task root)", ("bootstrap",)),
    ("import handler module (init)", ("import (init)",)),
    ("lazy imports in the handler", ("import (lazy)",)),
    ("secret read (client + GetSecretValue)", ("client secretsmanager", "aws secretsmanager.")),
    ("DynamoDB (client + calls)", ("client dynamodb", "aws dynamodb.")),
    ("SendTaskSuccess (client + call)", ("client stepfunctions", "aws stepfunctions.")),
    ("Slack chat.update", ("slack chat.update",)),
    ("Slack other calls (lookup, thread line)", ("slack ",)),
    ("other AWS clients/calls", ("client ", "aws ")),
    ("handler code (verify, parse, domain)", ("handler code",)),
)


def phases(profile: Mapping[str, float]) -> dict[str, float]:
    """Group a worker profile (label -> exclusive ms) into ``PHASES`` (first match wins)."""
    out = {title: 0.0 for title, _ in PHASES}
    for label, ms in profile.items():
        for title, prefixes in PHASES:
            if any(label == p or (p.endswith((" ", ".")) and label.startswith(p)) for p in prefixes):
                out[title] += ms
                break
        else:
            out.setdefault(f"({label})", 0.0)
            out[f"({label})"] += ms
    return out


@dataclass
class Click:
    kind: str  # warm | cold | stock
    ms: float
    status: int
    record: Record | None


@dataclass
class Bench:
    emu: Any
    stack: Any
    slack: Any
    runtime: PooledRuntime
    machine_arn: str
    interactions: str  # the function name
    urls: dict[str, str] = field(default_factory=dict)  # "real"/"ack" -> the gateway in front

    def request_approvals(
        self, count: int, parallel: int = 4, timeout: float = 300.0
    ) -> list[tuple[str, str]]:
        """Start ``count`` executions and wait for their cards; [(execution, card ts)]."""
        from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore

        sfn = self.emu.client("stepfunctions")
        store = DynamoApprovalStore(self.stack.table, client=self.emu.client("dynamodb"))
        out: list[tuple[str, str]] = []
        for start in range(0, count, parallel):
            batch = []
            for i in range(start, min(count, start + parallel)):
                model = f"bench-{uuid.uuid4().hex[:10]}"
                commit = uuid.uuid4().hex
                payload = {
                    "input": {
                        "commit": commit,
                        "repository": "bench",
                        "branch": "main",
                        "author": PUSHER,
                        "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    },
                    "model": {
                        "model_name": model,
                        "model_version": str(i + 1),
                        "commit": commit,
                        "author_email": AUTHOR_EMAIL,
                        "metric": "rmse",
                        "direction": "lower",
                        "candidate": 0.4,
                        "champion": 0.5,
                        "passed": True,
                    },
                }
                arn = sfn.start_execution(
                    stateMachineArn=self.machine_arn, name=f"{model}", input=json.dumps(payload)
                )["executionArn"]
                batch.append((arn, model))
            deadline = time.monotonic() + timeout
            for arn, model in batch:
                while True:
                    pending = [a for a in store.list_pending(model) if a.slack_ts]
                    if pending:
                        out.append((arn, str(pending[0].slack_ts)))
                        break
                    status = sfn.describe_execution(executionArn=arn)["status"]
                    if status != "RUNNING" or time.monotonic() > deadline:
                        raise RuntimeError(f"no approval card for {arn} ({status})")
                    time.sleep(0.05)
        return out

    def click(self, kind: str, card_ts: str) -> Click:
        """One timed click; ``kind``: warm, cold, stock, ack-warm or ack-cold."""
        ack = kind.startswith("ack-")
        target = ACK_FUNCTION if ack else self.interactions
        if kind.endswith("cold"):
            self.runtime.drop_warm()
        if kind == "stock":
            self.runtime.pooled.discard(self.interactions)
        else:
            self.runtime.pooled.update((self.interactions, ACK_FUNCTION))
        self.slack.interactions_url = self.urls["ack" if ack else "real"]
        seen = len(self.runtime.records)
        started = time.perf_counter()
        status, body = self.slack.click(card_ts, "approve", APPROVER)
        ms = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"{kind} click answered {status}: {body[:500]}")
        if ack and not self.runtime.wait_async(timeout=120):  # the hand-off, before the next click
            raise RuntimeError("the ack prototype's asynchronous decision did not finish")
        mine = [r for r in self.runtime.records[seen:] if r.function == target]
        record = mine[0] if mine else None
        if kind != "stock" and (record is None or record.cold != kind.endswith("cold")):
            raise RuntimeError(f"a {kind} click ran {'cold' if record and record.cold else 'warm'}")
        return Click(kind, ms, status, record)

    def verify(self, clicked: list[tuple[str, str]], timeout: float = 120.0) -> None:
        """Every clicked approval decided, its task answered (execution SUCCEEDED), its card updated."""
        from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore

        sfn = self.emu.client("stepfunctions")
        store = DynamoApprovalStore(self.stack.table, client=self.emu.client("dynamodb"))
        deadline = time.monotonic() + timeout
        for arn, card_ts in clicked:
            while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
                if time.monotonic() > deadline:
                    pending = list(store.list_pending(arn.rsplit(":", 1)[-1]))
                    raise RuntimeError(
                        f"{arn} still waits for its task token; pending {pending}; "
                        f"ephemerals {self.slack.ephemerals()[-3:]}"
                    )
                time.sleep(0.05)
            if status != "SUCCEEDED":
                raise RuntimeError(f"{arn} ended {status}")
            output = json.loads(sfn.describe_execution(executionArn=arn)["output"])
            approval = store.get(output["approval"]["approval_id"])
            if approval is None or approval.status.value != "APPROVED" or approval.decided_by != APPROVER:
                raise RuntimeError(f"approval of {arn} not recorded as approved by {APPROVER}: {approval}")
            card = self.slack.message(card_ts)
            if card is None or card.buttons:
                raise RuntimeError(f"card {card_ts} of {arn} was not updated")


def approval_machine(function_arn: str) -> str:
    """One ``waitForTaskToken`` state invoking request_approval, as the pipeline's RequestApproval."""
    return json.dumps(
        {
            "StartAt": "RequestApproval",
            "States": {
                "RequestApproval": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {
                        "FunctionName": function_arn,
                        "Payload": {
                            "token.$": "$$.Task.Token",
                            "execution.$": "$$.Execution.Id",
                            "input.$": "$.input",
                            "model.$": "$.model",
                        },
                    },
                    "TimeoutSeconds": 3600,
                    "ResultPath": "$.approval",
                    "End": True,
                }
            },
        }
    )


def schedule(warm: int, cold: int, stock: int, ack: int = 0) -> list[str]:
    """Interleaved, so that every kind sees the same machine load: each cold click is followed
    by its share of the warm clicks; the stock clicks and the ack-first pairs (a cold and a warm
    click on the prototype) are spread evenly over these rounds."""

    def spread(count: int, i: int, rounds: int) -> int:
        return (i + 1) * count // rounds - i * count // rounds

    kinds: list[str] = []
    rounds = max(cold, ack, stock, 1)
    for i in range(rounds):
        kinds.extend(["cold"] * spread(cold, i, rounds))
        kinds.extend(["stock"] * spread(stock, i, rounds))
        kinds.extend(["ack-cold", "ack-warm"] * spread(ack, i, rounds))
        kinds.extend(["warm"] * spread(warm, i, rounds))
    return kinds


def run(args: argparse.Namespace) -> list[Click]:
    from mlops_pipeline.local.emulator.emulator import Emulator
    from mlops_pipeline.local.stack.harness import PipelineStack, StackSettings
    from mlops_pipeline.local.stack.interactions_gateway import InteractionsGateway, lambda_invoker
    from mlops_pipeline.local.stack.slack_standin import LocalSlackServer

    kinds = schedule(args.warm, args.cold, args.stock, args.ack)
    with tempfile.TemporaryDirectory(prefix="interactions-bench-") as tmp:
        root = Path(tmp)
        (root / "repo").mkdir()
        with (
            Emulator(root / "state") as emu,
            LocalSlackServer(BOT_TOKEN, SIGNING_SECRET) as slack,
            pooled_runtime(emu) as runtime,
        ):
            print("provisioning the pipeline into the emulator ...", file=sys.stderr)
            stack = PipelineStack(
                emu,
                "http://127.0.0.1:9/mlflow-not-used",
                slack.api_url,
                root / "repo",
                StackSettings(
                    approval_timeout_seconds=3600,
                    extra_env={
                        "IDENTITY_MAP": json.dumps({PUSHER: PUSHER_SLACK_ID}),
                        "REQUIRED_APPROVALS": "1",
                    },
                ),
            )
            stack.provision({"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET})
            iam = emu.client("iam")
            role = iam.create_role(
                RoleName="bench-states",
                AssumeRolePolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "states.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                ),
            )["Role"]["Arn"]
            machine = emu.client("stepfunctions").create_state_machine(
                name="bench-approval",
                definition=approval_machine(stack.function_arns["request_approval"]),
                roleArn=role,
            )["stateMachineArn"]
            interactions = stack.function_name("slack_interactions")
            runtime.pooled.add(stack.function_name("request_approval"))  # fast set-up, not measured
            bench = Bench(emu, stack, slack, runtime, machine, interactions)
            if args.ack:
                deploy_ack_prototype(emu, stack, interactions)
            lam = emu.client("lambda")
            with (
                InteractionsGateway(lambda_invoker(lam, interactions)) as gateway,
                InteractionsGateway(lambda_invoker(lam, ACK_FUNCTION)) as ack_gateway,
            ):
                bench.urls = {"real": gateway.url, "ack": ack_gateway.url}
                total = args.warmup + len(kinds)
                print(f"requesting {total} approvals (real waitForTaskToken executions) ...", file=sys.stderr)
                approvals = bench.request_approvals(total)
                for i, (_, card) in enumerate(approvals[: args.warmup]):  # not measured
                    bench.click("cold" if i % 2 == 0 else "warm", card)
                counts = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds))
                print(f"clicking: {counts} ...", file=sys.stderr)
                clicks = [
                    bench.click(kind, card)
                    for kind, (_, card) in zip(kinds, approvals[args.warmup :], strict=True)
                ]
                print("verifying the side effects of every click ...", file=sys.stderr)
                bench.verify(approvals)
    return clicks


def _appender(rows: dict[str, list[float]]) -> Any:
    def add(title: str, value: float | None) -> None:
        rows.setdefault(title, []).append(value or 0.0)

    return add


def report(
    clicks: list[Click], load: tuple[float, float, float], load_after: tuple[float, float, float]
) -> list[str]:
    """The figures, the cold path's breakdown and the machine-readable last line."""
    by_kind = {
        k: [c for c in clicks if c.kind == k] for k in ("warm", "cold", "stock", "ack-warm", "ack-cold")
    }
    lines = [
        f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in load)} before, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} after",
        f"{'click -> HTTP answer':28} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f" {'> 3 s':>6}",
    ]
    titles = {
        "warm": "warm (same worker)",
        "cold": "cold (new worker)",
        "stock": "stock runtime (always cold)",
        "ack-warm": "ack-first prototype, warm",
        "ack-cold": "ack-first prototype, cold",
    }
    for kind, sample in by_kind.items():
        if not sample:
            continue
        ms = [c.ms for c in sample]
        over = sum(1 for v in ms if v > SLACK_LIMIT_MS)
        lines.append(
            f"{titles[kind]:28} {len(ms):4d} {percentile(ms, 50):8.0f} {percentile(ms, 90):8.0f} "
            f"{percentile(ms, 99):8.0f} {max(ms):8.0f} {over:6d}"
        )
    for kind in ("cold", "ack-cold", "warm"):
        sample = [c for c in by_kind[kind] if c.record is not None]
        if not sample:
            continue
        lines.append(f"{kind} path, median of {len(sample)} clicks (ms; phases are exclusive times):")
        rows: dict[str, list[float]] = {}
        add = _appender(rows)
        for c in sample:
            r = c.record
            assert r is not None
            if kind.endswith("cold"):
                add("interpreter start (spawn -> first line)", r.spawn_to_start_ms)
            profile = dict(r.profile)
            for label, spent in (r.init_profile or {}).items():
                profile[label] = profile.get(label, 0.0) + spent
            for title, spent in phases(profile).items():
                add(title, spent)
            worker_ms = (r.spawn_to_start_ms or 0) + (r.init_ms or 0) + (r.handler_ms or 0)
            add("runtime plumbing (pipes, process, result)", r.invoke_ms - worker_ms)
            add("gateway + Lambda Invoke API + signing + HTTP", c.ms - r.invoke_ms)
        for title, values in rows.items():
            if any(values):
                lines.append(f"  {title:46} {statistics.median(values):8.1f}")
        lines.append(f"  {'total (click -> HTTP answer)':46} {statistics.median(c.ms for c in sample):8.1f}")
    warm = [c.ms for c in by_kind["warm"]] or [float("nan")]
    cold = [c.ms for c in by_kind["cold"]] or [float("nan")]
    worst = max(cold + [c.ms for c in by_kind["stock"]])
    verdict = "within" if worst <= SLACK_LIMIT_MS else "OVER"
    lines.append(
        f"Slack's 3 s limit: slowest cold click {worst:.0f} ms: {verdict} "
        f"(cold p99 at {percentile(cold, 99) / SLACK_LIMIT_MS:.0%} of the limit)"
    )
    ack_cold = [c.ms for c in by_kind["ack-cold"]]
    if ack_cold and by_kind["cold"]:
        lines.append(
            f"ack-first prototype, cold: p50 {percentile(ack_cold, 50):.0f} ms vs {percentile(cold, 50):.0f} ms "
            f"for the whole decision ({1 - percentile(ack_cold, 50) / percentile(cold, 50):.0%} less)"
        )
    lines.append(
        f"interactions: warm_p50_ms={percentile(warm, 50):.0f} warm_p99_ms={percentile(warm, 99):.0f} "
        f"cold_p50_ms={percentile(cold, 50):.0f} cold_p99_ms={percentile(cold, 99):.0f} "
        f"samples={len(by_kind['warm'])}/{len(by_kind['cold'])}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Interactions benchmark (see the module docstring).")
    parser.add_argument("--warm", type=int, default=100, help="warm clicks (default 100)")
    parser.add_argument("--cold", type=int, default=20, help="cold clicks (default 20)")
    parser.add_argument("--stock", type=int, default=3, help="clicks through the stock runtime (default 3)")
    parser.add_argument(
        "--ack", type=int, default=10, help="cold+warm click pairs on the ack-first prototype (default 10)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured clicks first, >= 1 (default 2)")
    parser.add_argument("--raw", type=Path, help="also write every click and its profile to this JSON file")
    args = parser.parse_args(argv)
    if min(args.warm, args.cold, args.stock, args.ack) < 0 or args.warm + args.cold == 0 or args.warmup < 1:
        parser.error("counts must be >= 0, warm + cold > 0 and warmup >= 1 (the first click is cold)")
    if args.warm + args.cold + args.stock + 2 * args.ack + args.warmup > 1000:
        parser.error("at most 1000 clicks in one run")
    load = os.getloadavg()
    clicks = run(args)
    if args.raw:
        args.raw.write_text(json.dumps([dataclasses.asdict(c) for c in clicks], indent=1))
    for line in report(clicks, load, os.getloadavg()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
