"""Grading in bubblewrap against grading with the in-kernel guards alone: time and score per lesson.

    python -m benchmarks.grading_sandbox             # every lesson's solution, graded both ways (several minutes)
    python -m benchmarks.grading_sandbox --dry-run   # the first lesson only

Each lesson's solution notebook is graded with `autograde check` (learner.check, the same code), once in
bubblewrap and once without it, one right after the other (which goes first alternates), in a scratch
grading folder (the learner's own check records are left alone). Both must give the same, full score.
Prints seconds per lesson both ways and, as its last line, ratio=<time in bubblewrap / time without it>.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from autograde import learner
from autograde.course import Course
from benchmarks.grading_setup import prepare
from utils.settings import REPO_ROOT


def grade(solution: Path, sandboxed: bool) -> tuple[float, float, float]:
    """(seconds, score, max score) of one `autograde check` of the notebook, in or out of bubblewrap."""
    course = Course(REPO_ROOT)
    course.config.GuardedExecute.allow_unsandboxed = True
    if not sandboxed:
        course.config.GuardedExecute.bubblewrap = ""  # no sandbox, as where bubblewrap is missing
    started = time.monotonic()
    result, _ = learner.check(course, solution)
    return time.monotonic() - started, result.score, result.max_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="the first lesson only")
    args = parser.parse_args()
    prepare("grading_sandbox")
    solutions = sorted((REPO_ROOT / "solutions").glob("*/*.ipynb"))[: 1 if args.dry_run else None]
    totals = {True: 0.0, False: 0.0}
    with tempfile.TemporaryDirectory(prefix="grading-sandbox-") as scratch:
        os.environ["CNN_COURSE_GRADING"] = scratch  # nbgrader_config.py reads it when Course loads it
        print(f"{'lesson':<16} {'bubblewrap':>10} {'without':>8}  score")
        for index, solution in enumerate(solutions):
            seconds = {}
            for sandboxed in (True, False) if index % 2 == 0 else (False, True):  # neither always goes first
                seconds[sandboxed], score, most = grade(solution, sandboxed)
                totals[sandboxed] += seconds[sandboxed]
                if score != most:
                    sys.exit(f"grading_sandbox: {solution.name} scored {score:g}/{most:g} "
                             f"{'in' if sandboxed else 'without'} bubblewrap")
            print(f"{solution.parent.name:<16} {seconds[True]:>9.1f}s {seconds[False]:>7.1f}s  {score:g}/{most:g} both")
    print(f"{'total':<16} {totals[True]:>9.1f}s {totals[False]:>7.1f}s")
    print(f"ratio={totals[True] / totals[False]:.2f}")


if __name__ == "__main__":
    main()
