"""`autograde` (or `python -m autograde`): grade notebooks with nbgrader, for learners and instructors.

Learners:     autograde check lessons/01_lenet5/01_lenet5.ipynb [--json]
              autograde status
Instructors:  autograde release [--check] [ASSIGNMENT ...]
              autograde grade DIR [--assignment A] [--force] [--json] [--allow-unsandboxed]
                             [--jobs N] [--shard I/N]
              autograde export [--to grades.csv]
              autograde feedback [ASSIGNMENT ...]
"""

import argparse
import json
import sys

from .course import Course, CourseError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograde", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("--course", help="the course directory (default: the current one if it holds "
                                         "nbgrader_config.py, else this repository)")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="grade one notebook now and show the score per exercise")
    check.add_argument("notebook")
    check.add_argument("--json", action="store_true", help="print the result as one JSON object")
    commands.add_parser("status", help="your progress over all lessons")

    release = commands.add_parser("release", help="regenerate lessons/ from solutions/")
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    release.add_argument("--check", action="store_true",
                         help="change nothing; exit 1 naming the files when lessons/ is out of sync")
    grade = commands.add_parser("grade", help="autograde every submission in DIR/<student>/<assignment>/")
    grade.add_argument("directory", metavar="DIR")
    grade.add_argument("--assignment", action="append", default=[], help="only this assignment (repeatable)")
    grade.add_argument("--force", action="store_true", help="regrade submissions graded before")
    grade.add_argument("--json", action="store_true", help="print the results as JSON, one object per line")
    grade.add_argument("--jobs", type=int, metavar="N",
                       help="grade N submissions at once (default: the number of usable cores)")
    grade.add_argument("--shard", metavar="I/N", default="0/1",
                       help="grade only the I-th (from 0) of N disjoint slices of the students, e.g. one task "
                            "of a job array grading into a shared PostgreSQL gradebook")
    grade.add_argument("--allow-unsandboxed", action="store_true",
                       help="where bubblewrap cannot run, grade with the in-kernel guards alone instead of refusing")
    export = commands.add_parser("export", help="write the gradebook's grades as CSV")
    export.add_argument("--to", help="the CSV file (default: grading/grades.csv)")
    feedback = commands.add_parser("feedback", help="write HTML feedback for every autograded submission")
    feedback.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    return parser


def run(args) -> int:
    # Imported here so that `autograde --help` and input errors answer without loading nbgrader.
    from . import batch, instructor, learner
    from .preprocessors import sandbox_unavailable
    from .runner import quiet_nbgrader

    quiet_nbgrader()
    course = Course(args.course)
    if args.command in ("check", "grade"):
        unsandboxed = sandbox_unavailable(course.config.GuardedExecute.get("bubblewrap", "bwrap"))
        if unsandboxed and args.command == "grade" and not args.allow_unsandboxed:
            raise CourseError(f"{unsandboxed}; grading kernels run in bubblewrap: install it, or grade with the "
                              "in-kernel guards alone with --allow-unsandboxed")
        # A learner's check runs either way, and says which.
        course.config.GuardedExecute.allow_unsandboxed = True
    if args.command == "check":
        result, feedback_page = learner.check(course, args.notebook)
        if args.json:
            print(json.dumps({**json.loads(result.to_json()), "sandbox": "none" if unsandboxed else "bubblewrap"}))
        else:
            sandbox = f"none, only the in-kernel guards ran ({unsandboxed})" if unsandboxed else "bubblewrap"
            print(f"{result.notebook}\n{result.table()}\nfeedback: {feedback_page}\nsandbox: {sandbox}")
    elif args.command == "status":
        print(learner.status(course))
    elif args.command == "release" and args.check:
        problems = instructor.release_differences(course, args.assignments)
        if problems:
            print("lessons/ is out of sync with solutions/ (run `autograde release`):", file=sys.stderr)
            print("\n".join(f"  {problem}" for problem in problems), file=sys.stderr)
            return 1
        print(f"lessons/ is in sync with solutions/ ({len(course.assignments())} assignments)")
    elif args.command == "release":
        for path in instructor.release(course, args.assignments):
            print(f"released {path}")
    elif args.command == "grade":
        if args.jobs is not None and args.jobs < 1:
            raise CourseError(f"--jobs {args.jobs}: expected a number of submissions to grade at once, 1 or more")
        results = instructor.grade(course, args.directory, args.assignment, args.force,
                                   jobs=args.jobs or batch.usable_cores(), shard=batch.parse_shard(args.shard))
        if not results:  # e.g. more shards than students
            print(f"autograde: no submissions in shard {args.shard} of {args.directory}", file=sys.stderr)
        if unsandboxed:
            print(f"autograde: graded without a sandboxed kernel ({unsandboxed})", file=sys.stderr)
        if args.json:
            print("\n".join(json.dumps(entry) for entry in results))
        else:
            print(instructor.grade_table(results))
        return 1 if any("error" in entry for entry in results) else 0
    elif args.command == "export":
        print(f"wrote {instructor.export(course, args.to)}")
    elif args.command == "feedback":
        pages = instructor.feedback(course, args.assignments)
        print(f"wrote {len(pages)} feedback pages under {course.coursedir().feedback_directory}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except CourseError as error:
        print(f"autograde: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograde: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
