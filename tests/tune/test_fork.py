"""Workers forked from the tune process: exit codes, logs, environment, and when forking is off."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from pathlib import Path

from knobwise.tune._fork import can_fork, fork_call, fork_worker


def test_a_forked_worker_runs_its_work_with_its_env_and_log(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    out = tmp_path / "out.txt"

    def work() -> int:
        print("hello from the worker")
        out.write_text(f"{os.environ['KNOBWISE_TEST_FORK']} {os.getpid()}")
        return 3

    worker = fork_worker(str(log), {"KNOBWISE_TEST_FORK": "yes"}, 1, work)
    assert worker.wait() == 3 and worker.poll() == 3
    env_value, pid = out.read_text().split()
    assert env_value == "yes" and int(pid) == worker.pid != os.getpid()
    assert "hello from the worker" in log.read_text()
    assert "KNOBWISE_TEST_FORK" not in os.environ  # the parent's environment is untouched
    assert gc.get_freeze_count() == 0  # the parent's objects are back under the collector


def test_a_worker_that_raises_exits_1_with_the_traceback_in_its_log(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"

    def work() -> int:
        raise RuntimeError("trial process broke")

    assert fork_worker(str(log), {}, None, work).wait() == 1
    assert "RuntimeError: trial process broke" in log.read_text()


def test_forking_is_off_once_the_process_has_a_thread() -> None:
    code = (
        "import threading, time\nfrom knobwise.tune._fork import can_fork\n"
        "before = can_fork()\n"
        "threading.Thread(target=time.sleep, args=(2,), daemon=True).start()\n"
        "print(before, can_fork())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    expected = "True" if sys.platform == "linux" else "False"
    assert out.stdout.split() == [expected, "False"]
    assert can_fork() == (sys.platform == "linux" and threading.active_count() == 1)


def test_a_forked_call_prepares_at_once_and_computes_when_asked(tmp_path: Path) -> None:
    marker = tmp_path / "prepared"
    call = fork_call(lambda: marker.write_text("imported"), lambda: {"lr": 0.8, "pid": os.getpid()})
    value = call.result()
    assert marker.read_text() == "imported"
    assert value["lr"] == 0.8 and value["pid"] == call.worker.pid != os.getpid()
    assert call.worker.returncode == 0


def test_a_forked_call_that_fails_answers_none_and_one_not_asked_exits(tmp_path: Path) -> None:
    def broken() -> dict[str, float]:
        raise ValueError("no trials")

    assert fork_call(lambda: None, broken).result() is None
    marker = tmp_path / "computed"
    unasked = fork_call(lambda: None, lambda: marker.write_text("x"))
    unasked.close()
    assert unasked.worker.wait() == 0 and not marker.exists()
