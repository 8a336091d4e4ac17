"""Grading a class one submission after another against `autograde grade --jobs N`: wall time of each.

    python -m benchmarks.grading_parallel                     # 16 submissions of 00_foundations, --jobs 2
    python -m benchmarks.grading_parallel --lesson 01_lenet5 --count 8 --jobs 4
    python -m benchmarks.grading_parallel --dry-run           # 4 submissions

Each learner hands in the lesson's solution notebook. The same submissions are graded twice, in the same run,
each time into a fresh scratch grading folder and gradebook (SQLite): serially (--jobs 1), then with --jobs N,
both through instructor.grade, the code of `autograde grade`. Every submission must get full marks both ways.
Prints both wall times and, as its last line, ratio=<serial time / parallel time> (the target on 2 cores is
at least 1.6).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograde import instructor
from autograde.course import Course
from benchmarks.grading_setup import prepare
from utils.settings import REPO_ROOT


def grade_all(submitted: Path, grading: Path, jobs: int) -> tuple[float, list[dict]]:
    """(wall seconds, results) of grading every submission in submitted/ into the grading folder."""
    os.environ["CNN_COURSE_GRADING"] = str(grading)  # nbgrader_config.py reads it when Course loads it
    course = Course(REPO_ROOT)
    course.config.GuardedExecute.allow_unsandboxed = True  # as `autograde grade` does once bubblewrap is found
    started = time.monotonic()
    results = instructor.grade(course, submitted, [], force=False, jobs=jobs)
    return time.monotonic() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lesson", default="00_foundations", help="the lesson handed in (default 00_foundations)")
    parser.add_argument("--count", type=int, default=16, help="how many learners hand it in (default 16)")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once in the parallel run")
    parser.add_argument("--dry-run", action="store_true", help="4 submissions only")
    args = parser.parse_args()
    if args.jobs < 2:
        sys.exit(f"grading_parallel: --jobs {args.jobs}: the parallel run needs 2 or more (the serial one is --jobs 1)")
    prepare("grading_parallel")
    count = 4 if args.dry_run else args.count
    solution = REPO_ROOT / "solutions" / args.lesson / f"{args.lesson}.ipynb"
    if not solution.is_file():
        sys.exit(f"grading_parallel: no lesson {args.lesson} in solutions/")
    with tempfile.TemporaryDirectory(prefix="grading-parallel-") as scratch:
        submitted = Path(scratch) / "submitted"
        for number in range(count):
            folder = submitted / f"learner{number:03d}" / args.lesson
            folder.mkdir(parents=True)
            shutil.copy(solution, folder)
        seconds = {}
        for jobs in (1, args.jobs):
            seconds[jobs], results = grade_all(submitted, Path(scratch) / f"grading-jobs{jobs}", jobs)
            short = [entry for entry in results if "error" in entry or entry["score"] != entry["max_score"]]
            if short or len(results) != count:
                sys.exit(f"grading_parallel: with --jobs {jobs}, not every submission got full marks: {short[:1]}")
            print(f"--jobs {jobs:<2} {count} submissions of {args.lesson}: {seconds[jobs]:6.1f} s "
                  f"({seconds[jobs] / count:.1f} s per submission)")
    print(f"ratio={seconds[1] / seconds[args.jobs]:.2f}")


if __name__ == "__main__":
    main()
