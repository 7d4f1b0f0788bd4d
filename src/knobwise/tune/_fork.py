"""Worker processes forked from the ``tune`` process: its imports are already done.

A spawned worker (``python -m knobwise tune --worker I``) imports torch, optuna and knobwise again
before its first trial — 2.5-3.5 s on a 2-core CPU, as long as several short trials. A worker
forked after the study is prepared starts its first trial at once. Forking is safe only before
this process has threads or CUDA state of its own, so :func:`can_fork` allows it on Linux, in a
process with one Python thread, without a usable GPU (a CUDA context does not survive a fork);
otherwise, and for every replacement of a worker that died (the fresh process a crash asks for),
workers are spawned.

The parent freezes its objects out of the garbage collector across the fork (``gc.freeze``), so
the child never finalizes the parent's objects — its open storage connections above all — and
the child ends with ``os._exit``, running none of the parent's exit handlers.

Example:
    >>> isinstance(can_fork(), bool)
    True
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["ForkedCall", "ForkedWorker", "can_fork", "fork_call", "fork_worker"]


def can_fork() -> bool:
    """Whether workers may be forked from this process now (see the module's docstring)."""
    return sys.platform == "linux" and threading.active_count() == 1 and not torch.cuda.is_available()


def _fork() -> int:
    """``os.fork()`` with this process's buffered output written first (else the child would write
    it again) and its objects frozen out of the garbage collector across the fork (so the child
    never finalizes them); 0 in the child, the child's pid here."""
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    pid = os.fork()
    if pid:
        gc.unfreeze()
    return pid


class ForkedWorker:
    """A forked worker process, with the part of :class:`subprocess.Popen` that supervision uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def terminate(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)


def fork_worker(
    log_path: str, env: dict[str, str], threads: int | None, work: Callable[[], int]
) -> ForkedWorker:
    """Fork a process that sets ``env``, writes its output to ``log_path`` and exits with ``work()``.

    ``threads``: torch's thread count in the child (the parent has not started its thread pool).
    """
    pid = _fork()
    if pid:
        return ForkedWorker(pid)
    code = 1
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        # Fresh text streams on the log: the inherited ones may be wrappers that do not write to
        # file descriptors 1 and 2 (a notebook's, pytest's capture).
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.update(env)
        if threads:
            torch.set_num_threads(threads)
        code = work()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class ForkedCall:
    """A value computed by a forked process when :meth:`result` asks for it (see :func:`fork_call`)."""

    def __init__(self, pid: int, go: int, answer: int) -> None:
        self.worker = ForkedWorker(pid)
        self._go, self._answer = go, answer

    def result(self) -> Any:
        """The child's JSON value; None when it failed (its traceback went to stderr)."""
        try:
            os.write(self._go, b"1")
            with os.fdopen(self._answer, "rb") as answer:
                data = answer.read()
            self.worker.wait()
            return json.loads(data) if data else None
        except (OSError, ValueError):
            return None
        finally:
            self.close()

    def close(self) -> None:
        """Let the child go without an answer (it exits when the pipe closes)."""
        with contextlib.suppress(OSError):
            os.close(self._go)
        with contextlib.suppress(ChildProcessError):
            self.worker.poll()


def fork_call(prepare: Callable[[], object], compute: Callable[[], Any], nice: int = 0) -> ForkedCall:
    """Fork a process that runs ``prepare()`` now (its imports, say, beside this process's work
    and without its GIL) and ``compute()`` when :meth:`ForkedCall.result` asks, returning the
    value as JSON. ``nice`` lowers the child's priority, so it takes only the CPU that trials leave.
    The child exits when this process closes the call or ends.
    """
    go_r, go_w = os.pipe()
    ans_r, ans_w = os.pipe()
    pid = _fork()
    if pid:
        os.close(go_r)
        os.close(ans_w)
        return ForkedCall(pid, go_w, ans_r)
    code = 1
    try:
        os.close(go_w)
        os.close(ans_r)
        if nice:
            os.nice(nice)
        prepare()
        if os.read(go_r, 1):  # b"" when the parent closed the call or died: nothing to compute
            with os.fdopen(ans_w, "wb") as out:
                out.write(json.dumps(compute()).encode())
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)
