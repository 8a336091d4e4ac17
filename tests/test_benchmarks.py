"""The benchmarks still run: each script in its tiny --dry-run, ending with its ratio line.

The figures of a dry run mean nothing (a few batches on a busy CPU); the real runs are done by hand
(see README.md). The scripts run at the same time to keep this test short.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["cpu_lenet_mnist.py", "cpu_resnet20_cifar.py", "gpu_cifar.py", "grading_sandbox.py", "grading_parallel.py"]


def test_each_benchmark_dry_run_ends_with_a_ratio(tmp_path):
    # One torch thread each: three scripts share the machine with the rest of the suite.
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), "CNN_COURSE_CHECKPOINTS": str(tmp_path)}
    processes = {
        script: subprocess.Popen([sys.executable, str(REPO_ROOT / "benchmarks" / script), "--dry-run"], cwd=tmp_path,
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
