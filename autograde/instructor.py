"""Instructor commands: release, grade, export, feedback (nbgrader underneath, configured by nbgrader_config.py).

    autograde release            regenerate lessons/ from solutions/ (nbgrader generate_assignment --no-db)
    autograde release --check    fail, naming the files, when lessons/ is out of sync with solutions/
    autograde grade DIR          autograde DIR/<student>/<assignment>/<assignment>.ipynb (nbgrader's layout),
                                 several at once (--jobs N), or one slice of the students (--shard I/N)
    autograde export             grades.csv from the gradebook (nbgrader's CSV exporter)
    autograde feedback           HTML feedback for every autograded submission
"""

import filecmp
import multiprocessing
import os
import socket
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.plugins import CsvExportPlugin
from tqdm import tqdm

from . import batch
from .course import Course, CourseError, read_notebook
from .results import read_result
from .runner import NbGrader, quiet_nbgrader

IGNORED = {".ipynb_checkpoints", "__pycache__", ".DS_Store"}


def _chosen(course: Course, names: list[str]) -> list[str]:
    return [course.require(name) for name in names] if names else course.assignments()


def release(course: Course, names: list[str]) -> list[str]:
    """Regenerate lessons/<assignment>/ for each assignment; returns the notebooks written."""
    nbgrader = NbGrader(course, course.grading_dir / "logs" / "release.log")
    written = []
    for assignment in _chosen(course, names):
        nbgrader.generate_assignment(assignment, with_database=False)
        written.append(str(course.release_notebook(assignment)))
    return written


def release_differences(course: Course, names: list[str]) -> list[str]:
    """Files of lessons/ that differ from a fresh release of solutions/ (empty when in sync)."""
    with tempfile.TemporaryDirectory() as scratch:
        nbgrader = NbGrader(course, Path(scratch) / "release.log", release_directory=str(Path(scratch) / "lessons"))
        chosen = _chosen(course, names)
        for assignment in chosen:
            nbgrader.generate_assignment(assignment, with_database=False)
        fresh_root = Path(scratch) / "lessons"
        problems = []
        for assignment in chosen:
            problems += _compare_trees(fresh_root / assignment, course.release_dir / assignment)
        if not names and course.release_dir.is_dir():
            problems += [f"{path}: has no source in {course.source_dir.name}/"
                         for path in sorted(course.release_dir.iterdir())
                         if path.is_dir() and path.name not in IGNORED and path.name not in chosen]
    return problems


def _compare_trees(fresh: Path, current: Path) -> list[str]:
    def files(root: Path) -> set[Path]:
        if not root.is_dir():
            return set()
        return {path.relative_to(root) for path in root.rglob("*")
                if path.is_file() and not IGNORED.intersection(path.relative_to(root).parts)}

    fresh_files, current_files = files(fresh), files(current)
    problems = [f"{current / name}: missing" for name in sorted(fresh_files - current_files)]
    problems += [f"{current / name}: not in a fresh release" for name in sorted(current_files - fresh_files)]
    problems += [f"{current / name}: differs from a fresh release" for name in sorted(fresh_files & current_files)
                 if not filecmp.cmp(fresh / name, current / name, shallow=False)]
    return problems


def find_submissions(course: Course, submitted: Path) -> list[tuple[str, str]]:
    """(student, assignment) for every DIR/<student>/<assignment>/ folder (nbgrader's layout), with or without
    the notebook DIR/<student>/<assignment>/<assignment>.ipynb in it (see submission_problem)."""
    submitted = Path(submitted)
    if not submitted.is_dir():
        raise CourseError(f"{submitted}: no such directory (expected nbgrader's submitted/<student>/<assignment>/)")
    found = []
    for student in sorted(p for p in submitted.iterdir() if p.is_dir() and p.name not in IGNORED):
        for folder in sorted(p for p in student.iterdir() if p.is_dir() and p.name not in IGNORED):
            if folder.name not in course.assignments():
                raise CourseError(f"{folder}: {folder.name!r} is not one of the course's assignments "
                                  f"({', '.join(course.assignments()) or 'none yet'})")
            found.append((student.name, folder.name))
    if not found:
        raise CourseError(f"{submitted}: no submissions (expected <student>/<assignment>/<assignment>.ipynb in it)")
    return found


# What nbgrader's exchange adds to every submission (`nbgrader submit`, kept by `nbgrader collect`).
EXCHANGE_FILES = {"timestamp.txt", "submission_secret.txt"}


def _contents(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name not in IGNORED | EXCHANGE_FILES)


def submission_problem(folder: Path, assignment: str) -> str | None:
    """Why the submission in folder cannot be graded, as one line that says what to do (None: it can be).
    nbgrader finds a submission's notebook by its name and grades nothing else; the folder is only read."""
    notebook = folder / f"{assignment}.ipynb"
    if not notebook.is_file():
        notebooks = [name for name in _contents(folder) if name.endswith(".ipynb")]
        if notebooks:
            return (f"{folder} has {', '.join(notebooks)} but no {notebook.name}; rename the learner's notebook "
                    f"to {notebook.name} and grade again")
        held = f"only {', '.join(_contents(folder))}" if _contents(folder) else "nor any other file"
        return f"{folder} has no {notebook.name}, {held}; ask the learner to submit again"
    try:
        read_notebook(notebook, fix="ask the learner to submit it again")
    except CourseError as error:
        return str(error)
    return None


def grade(course: Course, submitted: Path, assignments: list[str], force: bool, jobs: int = 1,
          shard: tuple[int, int] = (0, 1)) -> list[dict]:
    """Autograde every submission in submitted/ (of shard I of N: see batch.py), `jobs` at a time; returns one
    result (or error) per submission. A submission that cannot be graded gets its error and the others are
    graded; no submitted file is changed."""
    index, count = shard
    submissions = [(student, assignment) for student, assignment in find_submissions(course, submitted)
                   if (not assignments or assignment in assignments) and batch.shard_of(student, count) == index]
    for name in assignments:
        course.require(name)
    # The gradebook learns each assignment's cells (with the hidden tests) from solutions/; the release it
    # writes on the way goes to a scratch folder, so grading never touches lessons/.
    overrides = {"submitted_directory": str(Path(submitted).resolve()),
                 "release_directory": str(course.grading_dir / "release"),
                 "db_url": batch.waiting_db_url(course.db_url)}
    with batch.setup_lock(overrides["db_url"], course.grading_dir / "logs" / "setup.lock"):
        nbgrader = NbGrader(course, course.grading_dir / "logs" / "grade.log", **overrides)
        for assignment in sorted({assignment for _, assignment in submissions}):
            nbgrader.generate_assignment(assignment, with_database=True)
    results = {submission: {"student": submission[0], "assignment": submission[1]} for submission in submissions}
    gradable = []
    for (student, assignment), entry in results.items():
        problem = submission_problem(Path(submitted) / student / assignment, assignment)
        if problem:
            entry["error"] = problem
        else:
            gradable.append((student, assignment))
    with tqdm(total=len(submissions), desc="grading", unit="notebook", file=sys.stderr) as progress:
        progress.update(len(submissions) - len(gradable))
        for submission, outcome in _grade_all(course, overrides, gradable, force, jobs):
            results[submission].update(outcome)
            progress.update()
    return list(results.values())


def _grade_all(course: Course, overrides: dict, submissions: list[tuple[str, str]], force: bool, jobs: int):
    """(submission, its outcome) for each submission as it is graded: here, or in `jobs` worker processes."""
    if jobs == 1 or len(submissions) < 2:
        for student, assignment in submissions:
            yield (student, assignment), grade_one(course, overrides, student, assignment, force)
        return
    # Spawned, not forked: a worker starts clean rather than with a copy of this process's gradebook sessions
    # (and so needs nbgrader quietened again).
    spawn = multiprocessing.get_context("spawn")
    threads = max(1, batch.usable_cores() // jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn, initializer=_start_worker,
                             initargs=(threads,)) as pool:  # fmt: skip
        futures = {pool.submit(grade_one, course, overrides, student, assignment, force): (student, assignment)
                   for student, assignment in submissions}
        try:
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except BrokenProcessPool:
                    yield futures[future], {"error": "a grader process died (killed?) before this submission was "
                                                     "graded; run the same command again to grade what is missing"}
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _start_worker(threads: int) -> None:
    """A grading worker's set-up: nbgrader quietened, and its kernels limited to their share of the cores
    (unless the instructor set a limit), so that `jobs` kernels computing at once do not fight over them."""
    quiet_nbgrader()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))  # a grading kernel inherits this process's environment


def grade_one(course: Course, overrides: dict, student: str, assignment: str, force: bool) -> dict:
    """Autograde one submission (in a worker process, or here) and read its result from the gradebook."""
    folder = Path(overrides["submitted_directory"]) / student / assignment
    entry = {}
    extra = [name for name in _contents(folder) if name != f"{assignment}.ipynb"]
    if extra:  # graded all the same (nbgrader skips other notebooks); said, in case the work is in one of them
        entry["not_graded"] = extra
    # One log per worker (shards on several machines may share the grading folder).
    log_file = course.grading_dir / "logs" / f"grade-{socket.gethostname()}-{os.getpid()}.log"
    nbgrader = NbGrader(course, log_file, **overrides)
    # nbgrader skips a submission whose autograded folder exists, even one it left half done when it was
    # killed (it writes a first copy of the notebook there before running it). So we note each finished
    # grading, and grade a submission without that note again from the start.
    finished = course.grading_dir / "finished" / student / assignment
    was_finished = finished.is_file()
    finished.unlink(missing_ok=True)
    try:
        nbgrader.autograde(assignment, student, force=force or not was_finished)
        finished.parent.mkdir(parents=True, exist_ok=True)
        finished.touch()
        source = nbformat.read(course.source_notebook(assignment), as_version=4)
        result = read_result(nbgrader.coursedir.db_url, assignment, student,
                             nbgrader.path("autograded", student, assignment), source,
                             label=str(nbgrader.path("submitted", student, assignment)))
        entry.update(asdict(result))
    except CourseError as error:
        entry["error"] = str(error)
    except Exception as error:  # one submission's surprise must not stop the grading of the class
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as log:  # where the error line points: the traceback, for whoever looks into it
            log.write(f"grading {student}/{assignment} failed:\n{traceback.format_exc()}")
        entry["error"] = f"{type(error).__name__}: {error}; see {log_file}"
    return entry


def grade_table(results: list[dict]) -> str:
    width = max([len("student")] + [len(entry["student"]) for entry in results])
    lines = [f"{'student':<{width}}  {'assignment':<16}  score    failed exercises"]
    for entry in results:
        if "error" in entry:
            lines.append(f"{entry['student']:<{width}}  {entry['assignment']:<16}  error: {entry['error']}")
            continue
        failed = [f"{exercise['name']} ({exercise['message'][:60]})" for exercise in entry["exercises"]
                  if not exercise["passed"]]
        if entry.get("not_graded"):
            failed.append(f"also submitted, not graded: {', '.join(entry['not_graded'])}")
        score = f"{entry['score']:g}/{entry['max_score']:g}"
        lines.append(f"{entry['student']:<{width}}  {entry['assignment']:<16}  {score:<7}  {'; '.join(failed)}")
    return "\n".join(lines)


def export(course: Course, destination: Path) -> Path:
    """nbgrader's CSV export of the gradebook (one row per student and assignment)."""
    destination = Path(destination or course.grading_dir / "grades.csv")
    destination.parent.mkdir(parents=True, exist_ok=True)
    nbgrader = NbGrader(course, course.grading_dir / "logs" / "export.log")
    exporter = CsvExportPlugin(parent=nbgrader.api)
    exporter.to = str(destination)
    with Gradebook(course.db_url) as gradebook:
        if not gradebook.assignments:
            raise CourseError(f"the gradebook ({course.db_url}) has no grades yet; run `autograde grade DIR` first")
        exporter.export(gradebook)
    return destination


def feedback(course: Course, names: list[str]) -> list[Path]:
    """HTML feedback for every autograded submission of the chosen assignments; returns the files."""
    nbgrader = NbGrader(course, course.grading_dir / "logs" / "feedback.log")
    autograded = Path(nbgrader.coursedir.format_path(nbgrader.coursedir.autograded_directory, ".", "."))
    chosen = _chosen(course, names)
    graded = sorted({path.parent.name for path in autograded.glob("*/*/*.ipynb")} & set(chosen))
    if not graded:
        raise CourseError(f"nothing autograded yet in {autograded}; run `autograde grade DIR` first")
    for assignment in graded:
        nbgrader.generate_feedback(assignment)
    feedback_root = Path(nbgrader.coursedir.format_path(nbgrader.coursedir.feedback_directory, ".", "."))
    return sorted(path for assignment in graded for path in feedback_root.glob(f"*/{assignment}/*.html"))
