"""Grading a whole class: submissions in parallel on one machine, and shards of them across machines.

nbgrader grades one submission after another and has no parallel or distributed autograding. Here each
submission is graded by a call of nbgrader's autograde in a worker process (one nbgrader and one sandboxed
kernel per worker), and `--shard I/N` picks one of N disjoint slices of the students, so that N such
commands (a Slurm job array, a Kubernetes Indexed Job) grade a class into one shared gradebook.

The gradebook is where they meet:
- SQLite allows one writer at a time; a writer that finds it busy waits (up to BUSY_TIMEOUT_S) instead of
  failing with "database is locked", so SQLite itself serialises the workers' writes.
- PostgreSQL takes concurrent writes; only setting up the gradebook (its tables, the assignment's cells) is
  done by one command at a time, under an advisory lock, since two shards creating the same rows collide.
"""

import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from .course import CourseError

# Seconds a SQLite writer waits for another to finish (Python's default, 5 s, is shorter than a busy moment
# of a few workers saving their grades).
BUSY_TIMEOUT_S = 600
# Any fixed number: the key of the PostgreSQL advisory lock held while one command sets up the gradebook.
SETUP_LOCK_KEY = 7_021_921


def usable_cores() -> int:
    """The cores this process may run on (a Slurm or container limit included), the default of --jobs."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity
        return os.cpu_count() or 1


def parse_shard(text_value: str) -> tuple[int, int]:
    """'I/N' as (I, N), with 0 <= I < N, or a CourseError that says what is expected."""
    index, _, count = text_value.partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        index = count = -1
    if not 0 <= index < count:
        raise CourseError(f"--shard {text_value}: expected I/N with 0 <= I < N, e.g. --shard 0/4 ... --shard 3/4 "
                          "(Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-3)")
    return index, count


def shard_of(student: str, count: int) -> int:
    """The shard (0..count-1) a student's submissions belong to: from a hash of the student id, so the same
    on every machine and every run, whoever else submitted."""
    return int.from_bytes(hashlib.sha256(student.encode()).digest()[:8], "big") % count


def parse_db_url(db_url: str) -> URL:
    """The gradebook's URL, parsed; a CourseError that says what to write where it is not an SQLAlchemy URL."""
    try:
        return make_url(db_url)
    except ArgumentError:
        raise CourseError(f"the gradebook URL {db_url!r} (CNN_COURSE_DB_URL) is not an SQLAlchemy URL; write e.g. "
                          "sqlite:////path/to/gradebook.db or postgresql+psycopg2://user@host/database") from None


def sqlite_file(db_url: str) -> str | None:
    """The file of an SQLite gradebook (whatever its driver or query), else None."""
    url = parse_db_url(db_url)
    return url.database if url.get_backend_name() == "sqlite" and url.database else None


def waiting_db_url(db_url: str) -> str:
    """db_url, for SQLite with a busy timeout so that concurrent writers wait for each other."""
    url = parse_db_url(db_url)
    if url.get_backend_name() != "sqlite" or "timeout" in url.query:
        return db_url
    return url.update_query_dict({"timeout": str(BUSY_TIMEOUT_S)}).render_as_string(hide_password=False)


@contextmanager
def setup_lock(db_url: str, lock_file: Path):
    """Held while one command creates the gradebook and records the assignments in it: an advisory lock in
    PostgreSQL (shards on several machines), a file lock beside the grading folder otherwise."""
    url = parse_db_url(db_url)
    if url.get_backend_name() == "postgresql":
        engine = create_engine(db_url)
        try:
            try:
                connection = engine.connect()
            except OperationalError as error:
                reason = str(error.orig).strip().splitlines()[0]
                raise CourseError(f"cannot reach the gradebook {url}: {reason}") from None
            with connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SETUP_LOCK_KEY})
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SETUP_LOCK_KEY})
        finally:
            engine.dispose()
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
