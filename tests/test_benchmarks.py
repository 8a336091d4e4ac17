"""The benchmarks still run: each script in its tiny --dry-run, run as README.md says (`python -m
benchmarks.NAME` from the repository's root), ending with its ratio line.

The figures of a dry run mean nothing (a few batches on a busy CPU); the real runs are done by hand
(see README.md). The scripts run at the same time to keep this test short.
"""

import os
import re
import subprocess
import sys

from utils.settings import REPO_ROOT

# Every module of benchmarks/ that runs as a script (textbook.py and grading_setup.py are their shared parts).
SCRIPTS = sorted(path.stem for path in (REPO_ROOT / "benchmarks").glob("*.py")
                 if 'if __name__ == "__main__":' in path.read_text())  # fmt: skip


def test_the_benchmarks_are_found():
    assert {"cpu_lenet_mnist", "cpu_resnet20_cifar", "gpu_cifar", "grading_sandbox", "grading_parallel"} <= set(SCRIPTS)


def test_each_benchmark_dry_run_ends_with_a_ratio(tmp_path):
    # One torch thread each: the scripts share the machine with the rest of the suite.
    env = os.environ | {"OMP_NUM_THREADS": "1", "CNN_COURSE_CHECKPOINTS": str(tmp_path)}
    processes = {
        script: subprocess.Popen([sys.executable, "-m", f"benchmarks.{script}", "--dry-run"], cwd=REPO_ROOT,
                                 env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        for script in SCRIPTS
    }
    for script, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"{script} failed:\n{err[-3000:]}"
        lines = out.strip().splitlines()
        assert re.fullmatch(r"ratio=\d+\.\d\d", lines[-1]), f"{script} does not end with ratio=...:\n{out}"
        assert float(lines[-1].removeprefix("ratio=")) > 0
        assert any(word in line for line in lines for word in ("images/s", "img/s", "bubblewrap", "submissions")), out
