"""Run each measurement in its own process, under a time and a memory limit.

Measurements fork from a *zygote*: a server process that has imported the engines once
(``benchmarks.jobs``: hazm, NLTK, scikit-learn, bm25s, Tantivy, Pasokh), so a measurement does not pay
five seconds of imports, and every one starts from the same clean memory. There are two zygotes: a
plain one, and one that has also built hazm's ``Normalizer`` and ``WordTokenizer`` (about 170 MB, two
seconds) for the systems that analyse text with them; so each process holds what its system needs and
nothing more.

The parent polls the measured process's resident memory and kills it past the memory limit or the time
limit; any failure comes back as an ``Outcome`` with a one-line reason, never as an exception. A job is
a module-level function taking and returning JSON-able data; its stdout and stderr go to a log file.

Protocol (JSON lines): the parent writes ``{"job": "module:function", "kwargs", "result", "log"}`` to
the zygote's stdin; the zygote forks, answers ``{"pid"}`` and, when the child has ended, ``{"pid",
"code"}`` (the exit code, negative for a signal).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.2
THREADS = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"), "1")
"""One thread everywhere: no BLAS or OpenMP pools in the measured processes."""


@dataclass
class Outcome:
    """What a job returned, or why it failed; its wall time and the peak resident memory seen."""

    result: Any
    error: str | None
    seconds: float
    watched_peak_mb: float

    @property
    def ok(self) -> bool:
        return self.error is None


class ZygoteDied(RuntimeError):
    pass


class _Zygote:
    """One zygote process and the line protocol to it."""

    def __init__(self, warm: bool, log: Path) -> None:
        command = [sys.executable, "-m", "benchmarks.isolate", "--warm" if warm else "--plain"]
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        environment = os.environ | THREADS | {"PYTHONPATH": path}
        with log.open("a", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO, env=environment
            )
        self.buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps(message, ensure_ascii=False) + "\n").encode())
            self.process.stdin.flush()
        except OSError as exc:
            raise ZygoteDied(f"measurement server died ({exc})") from None

    def receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or None if none came within ``timeout`` seconds."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise ZygoteDied(f"measurement server died (exit code {self.process.wait()})")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class Isolation:
    """Runs jobs in forked processes; a context manager that owns the zygotes."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.zygotes: dict[bool, _Zygote] = {}
        self.running: int | None = None

    def __enter__(self) -> Isolation:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self, *, warm: bool) -> _Zygote:
        """Start a zygote now if there is none (they load in parallel, so start both early)."""
        if warm not in self.zygotes or self.zygotes[warm].process.poll() is not None:
            name = "zygote-hazm" if warm else "zygote-plain"
            self.zygotes[warm] = _Zygote(warm, self.logs / f"{name}.log")
        return self.zygotes[warm]

    def close(self) -> None:
        """Stop the zygotes, and a measurement still running (after an interruption)."""
        if self.running is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.running, signal.SIGKILL)
        for zygote in self.zygotes.values():
            zygote.close()
        self.zygotes.clear()

    def run(
        self,
        job: Callable[..., Any],
        kwargs: dict[str, Any],
        *,
        log: Path,
        time_limit: float,
        memory_limit_mb: float,
        warm: bool = False,
    ) -> Outcome:
        """Run ``job(**kwargs)`` in a process forked from a zygote (``warm``: with hazm's tools built)."""
        result_path = log.with_suffix(".result.json")
        result_path.unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            zygote = self.start(warm=warm)
            zygote.send({"job": f"{job.__module__}:{job.__name__}", "kwargs": kwargs, "result": str(result_path),
                         "log": str(log)})  # fmt: skip
            message = zygote.receive(timeout=None)
            while message is not None and "pid" not in message:  # the zygote says it is ready first
                message = zygote.receive(timeout=None)
            assert message is not None
            self.running = message["pid"]
            code, peak, reason = self._watch(zygote, message["pid"], started, time_limit, memory_limit_mb)
            self.running = None
        except ZygoteDied as exc:
            self.zygotes.pop(warm).close()
            return Outcome(None, str(exc), time.perf_counter() - started, 0.0)
        seconds = time.perf_counter() - started
        if reason is None and result_path.exists():
            answer = json.loads(result_path.read_text(encoding="utf-8"))
            reason = answer.get("error")
            if reason is None:
                return Outcome(answer["result"], None, seconds, peak)
        return Outcome(None, reason or _exit_reason(code), seconds, peak)

    @staticmethod
    def _watch(
        zygote: _Zygote, pid: int, started: float, time_limit: float, memory_limit_mb: float
    ) -> tuple[int, float, str | None]:
        """Wait for the child's exit code, killing it past a limit; return (code, peak MB seen, reason)."""
        try:
            watched: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            watched = None
        peak, reason = 0.0, None
        while True:
            message = zygote.receive(timeout=POLL_SECONDS)
            if message is not None:
                return int(message["code"]), peak, reason
            try:
                if watched is not None:
                    peak = max(peak, watched.memory_info().rss / 2**20)
            except psutil.Error:
                pass
            if reason is not None:
                continue
            if time.perf_counter() - started > time_limit:
                reason = f"timed out after {time_limit:.0f} s"
            elif peak > memory_limit_mb:
                reason = f"out of memory: resident {peak:,.0f} MB > limit {memory_limit_mb:,.0f} MB"
            if reason is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (the kernel's out-of-memory killer?)" if code == -signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exited with code {code} without a result"


# -- the zygote and its children -------------------------------------------------------------------


def _child(request: dict[str, Any]) -> None:
    """Run one job in the forked child and leave the process (never returns)."""
    code = 1
    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        module, _, name = request["job"].partition(":")
        job = getattr(importlib.import_module(module), name)
        try:
            answer: dict[str, Any] = {"result": job(**request["kwargs"])}
            code = 0
        except BaseException as exc:  # every failure is reported, MemoryError included
            traceback.print_exc()
            answer = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
        Path(request["result"]).write_text(json.dumps(answer, ensure_ascii=False), encoding="utf-8")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def zygote(warm: bool) -> None:
    """Serve jobs from stdin: import the engines (and build hazm's tools if ``warm``), then fork per job."""
    importlib.import_module("benchmarks.jobs")
    if warm:
        importlib.import_module("benchmarks.systems").warm_up_hazm()
    out = sys.stdout
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), file=out, flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}), file=out, flush=True)


if __name__ == "__main__":
    zygote(warm="--warm" in sys.argv[1:])
