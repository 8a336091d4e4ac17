"""A grading kernel starts as autograde/kernel_launcher.py says: nothing imported from the submission's folder,
and the kernel ends when the grader that started it is killed, even at the instant it starts the sandbox; the
folder of its sockets is removed by the next grader."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograde import bubblewrap
from autograde.preprocessors import socket_folder
from utils.settings import REPO_ROOT

# A stand-in for a grader's worker: starts a sandboxed kernel the way GuardedExecute does (the same command,
# the same lifeline), prints the kernel's process group and waits to be killed.
WORKER = textwrap.dedent("""
    import os, subprocess, sys, time
    from autograde import bubblewrap, kernel_launcher
    folder = sys.argv[1]
    read_end, write_end = kernel_launcher.open_lifeline()
    command = kernel_launcher.kernel_command([sys.executable, "-m", "ipykernel_launcher", "-f",
                                              os.path.join(folder, "kernel.json")])
    sandbox = bubblewrap.command(sys.executable, readable=[sys.argv[2]], writable=[folder], hidden=[])
    if sys.argv[3] == "lifeline only":  # without bubblewrap's own --die-with-parent, only the lifeline can help
        sandbox.remove("--die-with-parent")
    command = sandbox + command
    env = {**os.environ, kernel_launcher.LIFELINE_VARIABLE: str(read_end), "PYTHONPATH": sys.argv[2]}
    kernel = subprocess.Popen(command, cwd=folder, env=env, start_new_session=True, pass_fds=(read_end,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(read_end)
    print(kernel.pid, flush=True)
    time.sleep(600)
""")


def living(group: int) -> list[int]:
    """The processes of a process group that are still running (zombies do not count: nothing reaps them here)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
                alive.append(int(entry.name))
    return alive


def start_worker(folder: Path, how: str = "as graded") -> tuple[subprocess.Popen, int]:
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(folder), str(REPO_ROOT), how], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})  # fmt: skip
    return worker, int(worker.stdout.readline())


def ended_within(group: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while living(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not living(group)


@pytest.fixture
def submission(tmp_path):
    """A submission folder that also holds what a learner might add to take over the kernel's start."""
    assert bubblewrap.unavailable_reason() is None, "these tests need bubblewrap (./course test installs it)"
    (tmp_path / "ipykernel_launcher.py").write_text("raise SystemExit(99)\n")
    (tmp_path / "autograde").mkdir()
    (tmp_path / "autograde" / "__init__.py").write_text("raise SystemExit(98)\n")
    return tmp_path


def test_the_kernel_starts_from_the_course_and_dies_with_its_grader(submission):
    worker, group = start_worker(submission, "lifeline only")
    try:
        deadline = time.monotonic() + 120
        while not (submission / "kernel.json").exists() and living(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (submission / "kernel.json").exists(), "the kernel did not start (the submission's files ran?)"
        assert living(group), "the kernel is not running"
    finally:
        worker.kill()
        worker.wait()
    assert ended_within(group, 20), f"the kernel outlived its grader: {living(group)}"


def test_a_grader_killed_as_it_starts_the_sandbox_leaves_no_kernel(submission):
    # The instant after the start is where bubblewrap's --die-with-parent alone loses the kernel (a few ms).
    for _ in range(3):
        worker, group = start_worker(submission)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert ended_within(group, 30), f"the kernel outlived its grader: {living(group)}"


def test_the_lifeline_alone_ends_the_kernel(submission):
    # Without bubblewrap's --die-with-parent nothing else ends the kernel: this fails whenever the lifeline does.
    for _ in range(2):
        worker, group = start_worker(submission, "lifeline only")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert ended_within(group, 30), f"the kernel outlived its grader: {living(group)}"


def test_the_next_grader_removes_the_socket_folders_of_graders_that_are_gone(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    stale = tmp_path / f"autograde-kernel-{gone.pid}-a1b2c3"  # as a grader killed with kill -9 leaves it
    stale.mkdir()
    (stale / "kernel.json").write_text("{}")
    kept = [tmp_path / f"autograde-kernel-{os.getppid()}-a1b2c3",  # a grader still running (pytest's parent)
            tmp_path / "autograde-kernel-x-a1b2c3", tmp_path / "autograde-postgres-a1b2c3"]
    for folder in kept:
        folder.mkdir()
    made = Path(socket_folder())
    assert made.parent == tmp_path and made.name.startswith(f"autograde-kernel-{os.getpid()}-")
    assert not stale.exists()
    assert all(folder.exists() for folder in kept)
