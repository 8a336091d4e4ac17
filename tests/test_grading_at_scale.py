"""Grading a class: `autograde grade --jobs N` (worker processes) and `--shard I/N` (slices of the students),
into SQLite and into a real PostgreSQL server, and a worker killed in the middle.

Four learners hand in the small fixture assignment of test_autograde.py (99_mini, 8 points). Their scores from
a serial SQLite run are the reference every other way of grading must give. The PostgreSQL server is Debian's
(`postgresql` package, installed by `./course test` when run as root), started in a temporary folder on a free
port and stopped at the end. Without it, that test is skipped when not root and fails as root.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from test_autograde import ASSIGNMENT, build_submission, make_course, processes_marked

from autograde import batch
from autograde.batch import parse_shard, shard_of
from autograde.course import CourseError
from autograde.preprocessors import SOCKET_FOLDER_PREFIX
from utils.settings import REPO_ROOT

# The learners are named after the variant of test_autograde.py they hand in (their points are listed there).
# Two of them fall in each of the two shards (checked below, so that a change of hash shows).
LEARNERS = ["solution", "wrong", "stub", "alt_style"]


@pytest.fixture(scope="module")
def env(environ_without_grading):
    """Every command's environment, with a marker that finds the processes it started."""
    return environ_without_grading(CNN_COURSE_CELL_TIMEOUT="30", CNN_COURSE_KERNEL_MEMORY_MB="2048",
                                   AUTOGRADE_TEST_MARKER=f"grading-at-scale-{uuid.uuid4().hex}")


def class_course(root: Path, env, run_autograde) -> tuple[Path, Path]:
    """A course with the fixture assignment released, and its learners' submissions (nbgrader's layout)."""
    course = make_course(root, env, run_autograde)
    release = nbformat.read(course / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    submitted = course / "submitted"
    for learner in LEARNERS:
        folder = submitted / learner / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(build_submission(release, source, learner), folder / f"{ASSIGNMENT}.ipynb")
    return course, submitted


def gradebook_scores(db_url: str) -> dict[str, float]:
    """Each learner's score as the gradebook holds it, checking that every graded cell has one."""
    scores = {}
    with Gradebook(db_url) as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            notebook = submission.notebooks[0]
            assert all(grade.auto_score is not None for grade in notebook.grades), submission.student_id
            scores[submission.student_id] = notebook.score
    return scores


def results(done) -> dict[str, dict]:
    assert done.returncode == 0, done.stdout + done.stderr
    return {entry["student"]: entry for entry in map(json.loads, done.stdout.splitlines())}


@pytest.fixture(scope="module")
def serial(tmp_path_factory, env, run_autograde):
    """The reference: every submission graded one after another into SQLite."""
    course, submitted = class_course(tmp_path_factory.mktemp("serial"), env, run_autograde)
    grader = subprocess.Popen([sys.executable, "-m", "autograde", "--course", str(course), "grade", str(submitted),
                               "--jobs", "1", "--json"], cwd=course, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = grader.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        grader.kill()  # not left grading behind a failed test
        raise
    done = subprocess.CompletedProcess(grader.args, grader.returncode, stdout, stderr)
    # --jobs 1 grades in the command's own process, which removed each of its kernels' socket folders
    assert socket_folders(grader.pid) == []
    scores = {learner: entry["score"] for learner, entry in results(done).items()}
    assert scores == gradebook_scores(f"sqlite:///{course / 'grading' / 'gradebook.db'}")
    assert scores == {"solution": 8.0, "wrong": 2.0, "stub": 0.0, "alt_style": 8.0}  # as in test_autograde.py
    return scores


# ---- shards ----

def test_parallel_workers_give_their_kernels_a_share_of_the_cores(monkeypatch):
    """A worker's set-up gives it (and so each grading kernel it starts, which inherits its environment) the
    thread count it is handed, unless the instructor chose a number."""
    from autograde import instructor

    monkeypatch.setattr(instructor, "quiet_nbgrader", lambda: None)  # it would change this process's logging
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "unset")  # recorded first, so that what _start_worker sets is undone afterwards
        monkeypatch.delenv(name)
    instructor._start_worker(3)
    assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "3"
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    instructor._start_worker(1)
    assert os.environ["OMP_NUM_THREADS"] == "5"  # the instructor's choice stands


def test_an_unexpected_error_is_one_line_for_its_submission_and_its_traceback_is_in_the_log(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from autograde import instructor

    class BrokenNbGrader:  # fails as no nbgrader run should: the error must not stop the class, nor be lost
        def __init__(self, course, log_file, **overrides):
            pass

        def autograde(self, assignment, student, force):
            raise ZeroDivisionError("a surprise in the grader")

    monkeypatch.setattr(instructor, "NbGrader", BrokenNbGrader)
    (tmp_path / "submitted" / "learner" / ASSIGNMENT).mkdir(parents=True)
    course = SimpleNamespace(grading_dir=tmp_path / "grading")
    entry = instructor.grade_one(course, {"submitted_directory": str(tmp_path / "submitted")}, "learner", ASSIGNMENT,
                                 force=False)  # fmt: skip
    message, _, log_file = entry["error"].partition("; see ")
    assert message == "ZeroDivisionError: a surprise in the grader"
    logged = Path(log_file).read_text()
    assert f"grading learner/{ASSIGNMENT} failed" in logged and "Traceback" in logged
    assert 'raise ZeroDivisionError("a surprise in the grader")' in logged


def test_shards_are_disjoint_stable_and_cover_every_student():
    students = [f"learner{number:03d}" for number in range(300)]
    slices = [[student for student in students if shard_of(student, 4) == index] for index in range(4)]
    assert sorted(sum(slices, [])) == students
    assert all(40 < len(part) < 110 for part in slices)  # roughly even
    assert [shard_of(student, 2) for student in LEARNERS] == [1, 0, 0, 1]  # sha256, the same on every machine


def test_an_sqlite_gradebook_is_found_behind_any_driver_or_query():
    # What the sandbox hides: the gradebook's file, also once grading has added a busy timeout to the URL.
    assert batch.sqlite_file(batch.waiting_db_url("sqlite:////srv/class/gradebook.db")) == "/srv/class/gradebook.db"
    assert batch.sqlite_file("sqlite+pysqlite:////srv/class/gradebook.db") == "/srv/class/gradebook.db"
    assert batch.sqlite_file("postgresql+psycopg2://grader@dbhost/cnn_course") is None
    with pytest.raises(CourseError, match=r"'gradebook.db' \(CNN_COURSE_DB_URL\) is not an SQLAlchemy URL; write e.g."):
        batch.waiting_db_url("gradebook.db")


@pytest.mark.parametrize("text", ["2/2", "-1/3", "1", "a/b", "0/0"])
def test_a_bad_shard_is_refused_with_what_to_write(text):
    with pytest.raises(CourseError, match=r"expected I/N with 0 <= I < N, e\.g\. --shard 0/4"):
        parse_shard(text)


def test_a_bad_jobs_count_is_one_line(tmp_path, run_autograde):
    done = run_autograde(REPO_ROOT, "grade", tmp_path, "--jobs", "0")
    assert done.returncode == 2
    assert done.stderr.startswith("autograde: --jobs 0: expected") and done.stderr.count("\n") == 1, done.stderr


# ---- SQLite, in parallel, with a worker killed ----

def workers(parent: int) -> list[int]:
    """The worker processes of a running `autograde grade` (its spawned Python children)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def socket_folders(grader: int) -> list[Path]:
    """The folders of Unix sockets that a grader's kernels left behind (see autograde.preprocessors.socket_folder)."""
    return list(Path(tempfile.gettempdir()).glob(f"{SOCKET_FOLDER_PREFIX}{grader}-*"))


def busy_worker(parent: int) -> int | None:
    """A worker that is running a grading kernel right now, if any: it has a child process and its kernel's
    socket folder exists (a grader removes the folder before it reaps its kernel, so a child alone is not enough)."""
    for pid in workers(parent):
        try:
            if Path(f"/proc/{pid}/task/{pid}/children").read_text().split() and socket_folders(pid):
                return pid
        except OSError:
            continue
    return None


def notebook_modes(autograded: Path) -> dict[str, int]:
    """Each learner's autograded notebook's mode bits. nbgrader writes a first copy of the notebook before it
    runs it, and makes the notebook read-only (444) as its last step: a writable one is a grading cut short."""
    return {path.parent.parent.name: path.stat().st_mode for path in autograded.glob(f"*/{ASSIGNMENT}/*.ipynb")}


@pytest.mark.slow
def test_a_killed_worker_loses_nothing_and_the_rerun_grades_only_what_is_missing(tmp_path, env, serial,
                                                                                 run_autograde):
    course, submitted = class_course(tmp_path / "course", env, run_autograde)
    autograded = course / "grading" / "autograded"
    command = [sys.executable, "-m", "autograde", "--course", str(course), "grade", str(submitted), "--jobs", "2"]
    first = subprocess.Popen(command, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, deadline = None, time.monotonic() + 300
    while victim is None and first.poll() is None and time.monotonic() < deadline:
        # Once one submission is done, kill a worker in the middle of another (its kernel running).
        victim = busy_worker(first.pid) if any(not mode & 0o222 for mode in notebook_modes(autograded).values()) \
            else None
        time.sleep(0.05)
    assert victim, "no worker was caught grading"
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 1, stdout + stderr
    deadline = time.monotonic() + 10  # kernels die with their grader (bubblewrap's --die-with-parent), not at once
    while processes_marked(env["AUTOGRADE_TEST_MARKER"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_marked(env["AUTOGRADE_TEST_MARKER"]) == []  # no kernel outlived its killed grader
    # The killed worker's socket folder may already be gone: the other worker removes it if it starts a kernel
    # before the broken pool stops it. Either way, no folder of the dead grader survives the rerun (below).
    assert "run the same command again to grade what is missing" in stdout
    finished = {learner: (autograded / learner / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").stat().st_mtime_ns
                for learner, mode in notebook_modes(autograded).items() if not mode & 0o222}
    half_done = [learner for learner, mode in notebook_modes(autograded).items() if mode & 0o222]
    assert finished and half_done, (finished, half_done)

    again = run_autograde(course, "grade", str(submitted), "--jobs", "2", "--json", env=env)
    assert socket_folders(victim) == []  # removed by a later grader, as its owner is gone
    assert {learner: entry["score"] for learner, entry in results(again).items()} == serial
    assert gradebook_scores(f"sqlite:///{course / 'grading' / 'gradebook.db'}") == serial
    for learner, mtime in finished.items():  # graded once: the rerun left finished submissions alone
        assert (autograded / learner / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").stat().st_mtime_ns == mtime, learner
    logs = "".join(path.read_text() for path in (course / "grading" / "logs").glob("grade*.log"))
    assert "database is locked" not in logs


# ---- PostgreSQL ----

def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (Debian keeps them off PATH, in /usr/lib/postgresql/N/bin)."""
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None)
    return Path(found).resolve().parent if found else None


@pytest.fixture(scope="module")
def postgres(free_port):
    """A throwaway PostgreSQL server; yields the URL of an empty database in it."""
    binaries = postgres_bin()
    if binaries is None and os.geteuid() != 0:
        # Without root, `./course test` cannot install it: a missing server is the machine's, not a fault here.
        pytest.skip("PostgreSQL is not installed: install Debian's postgresql package (as root, `./course test` "
                    "installs it)")
    if binaries is None:  # as root `./course test` installs it, so a missing server is a broken setup
        pytest.fail("PostgreSQL is not installed although this runs as root: `./course test` installs it (Debian's "
                    "postgresql package); did apt-get fail?", pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="autograde-postgres-"))
    # PostgreSQL refuses to run as root: as root, the server runs as `nobody`, which owns its folder.
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "nobody")
    port = free_port()

    def pg(*args):
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args[0]}: {done.stdout}{done.stderr}"

    pg(binaries / "initdb", "-D", folder / "data", "-A", "trust", "-U", "grader", "--no-sync", "-E", "UTF8")
    pg(binaries / "pg_ctl", "-D", folder / "data", "-l", folder / "server.log", "-w", "start", "-o",
       f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off")
    try:
        pg(binaries / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "cnn_course")
        yield f"postgresql+psycopg2://grader@127.0.0.1:{port}/cnn_course"
    finally:
        pg(binaries / "pg_ctl", "-D", folder / "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_shards_of_two_jobs_grade_into_postgresql_once_each_as_a_serial_run_does(tmp_path, env, serial,
                                                                                      postgres, run_autograde):
    env = {**env, "CNN_COURSE_DB_URL": postgres}
    course, submitted = class_course(tmp_path / "course", env, run_autograde)
    command = [sys.executable, "-m", "autograde", "--course", str(course), "grade", str(submitted), "--jobs", "2",
               "--json"]
    shards = [subprocess.Popen([*command, "--shard", f"{index}/2"], cwd=course, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for index in range(2)]
    outputs = [shard.communicate(timeout=600) for shard in shards]
    for shard, (stdout, stderr) in zip(shards, outputs, strict=True):
        assert shard.returncode == 0, stdout + stderr
    graded = [[json.loads(line) for line in stdout.splitlines()] for stdout, _ in outputs]
    assert [sorted(entry["student"] for entry in part) for part in graded] == [["stub", "wrong"],
                                                                               ["alt_style", "solution"]]
    with Gradebook(postgres) as gradebook:  # each submission recorded once
        assert sorted(submission.student_id for submission in gradebook.assignment_submissions(ASSIGNMENT)) \
            == sorted(LEARNERS)
    assert gradebook_scores(postgres) == serial

    exported = run_autograde(course, "export", "--to", str(tmp_path / "grades.csv"), env=env)
    assert exported.returncode == 0, exported.stderr
    rows = (tmp_path / "grades.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert {row.split(",")[header.index("student_id")]: float(row.split(",")[header.index("score")])
            for row in rows[1:]} == serial
