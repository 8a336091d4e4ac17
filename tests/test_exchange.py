"""A class through nbgrader's exchange, end to end, with real nbgrader commands on one machine.

The way nbgrader's own tests simulate accounts: every person gets a HOME of their own (nbgrader keeps a learner's
submissions there, in its cache) and a working directory of their own. The instructor's is a copy of the course
(nbgrader_config.py, solutions/ and lessons/ of lesson 01); a learner's is their clone of the course, of which
nbgrader's commands read only nbgrader_config.py. All of them share one exchange directory, named by
CNN_COURSE_EXCHANGE as in a class. On one machine every learner is the same account, so learners name themselves
with `--student`, as in nbgrader's tests; on JupyterHub the account name is used.

The sequence is the README's (For instructors > A class through nbgrader's exchange): release, fetch, submit
(alice twice: the second counts), collect, grade, feedback, release feedback, fetch feedback, export.
"""

import csv
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest
from test_autograde import solved

from utils.settings import REPO_ROOT

LESSON = "01_lenet5"


class Answer(NamedTuple):
    """An answer other than the instructor's: `edit` (old, new) turns the solution into it (None: the released stub
    is left as it is); `fails` names the test cells it fails (None: all of its exercise's); `says` is part of the
    feedback's message on its first failure."""
    edit: tuple[str, str] | None
    fails: set[str] | None
    says: str


STUB = Answer(None, None, "")
# Plausible but wrong: each output map collects its input maps from the bottom row of the table up, so its kernel
# sees them in reverse order. Wiring, parameter count and the worked sums are right (every visible test passes);
# the reference's weights do not line up with it, which only the hidden tests of ex3-reference see.
SPARSE_CONV_BOTTOM_UP = Answer(("for i, marks in enumerate(table)", "for i, marks in reversed(list(enumerate(table)))"),
                               {"ex3-reference"}, "the output for the reference's weights")
# The answers other than the solution in each submission, in the order the learners submit: alice leaves an
# exercise unanswered, then resubmits everything right; bob answers one exercise wrongly.
SUBMISSIONS = [("alice", {"ex2-lenet5": STUB}), ("bob", {"ex3-sparse-conv": SPARSE_CONV_BOTTOM_UP}), ("alice", {})]


def account(base: dict, home: Path, exchange: Path) -> dict:
    """The environment of one person's shell, from `base` (without the grading settings): their own HOME (and so
    their own Jupyter data and nbgrader cache), the shared exchange, and the course's tools on PATH."""
    env = {name: value for name, value in base.items() if not name.startswith(("JUPYTER", "XDG_"))}
    home.mkdir(parents=True)
    env.update(HOME=str(home), CNN_COURSE_EXCHANGE=str(exchange),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    return env


def answered(notebook, others: dict[str, Answer]):
    """The learner's notebook with every answer cell holding the instructor's solution, except `others`."""
    source = nbformat.read(REPO_ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    answers = {cell.metadata["nbgrader"]["grade_id"]: solved(cell.source) for cell in source.cells
               if cell.metadata.get("nbgrader", {}).get("solution")}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id not in answers:
            continue
        if grade_id not in others:
            cell.source = answers[grade_id]
        elif others[grade_id].edit:
            old, new = others[grade_id].edit
            assert answers[grade_id].count(old) == 1, f"the solution of {grade_id} changed: update the wrong answer"
            cell.source = answers[grade_id].replace(old, new)
    return notebook


def points_of(others: dict[str, Answer]) -> tuple[float, float]:
    """(score, max score) of a submission whose answers are the solution's except `others`, from the source's cell
    metadata: each answer cell's points are those of the test cells that follow it."""
    cells = nbformat.read(REPO_ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4).cells
    score = most = 0.0
    answer = None
    for cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answer = others.get(meta["grade_id"])
        elif meta.get("grade"):
            most += meta["points"]
            failed = answer is not None and (answer.fails is None or meta["grade_id"] in answer.fails)
            score += 0.0 if failed else meta["points"]
    return score, most


@pytest.fixture(scope="module")
def term(tmp_path_factory, environ_without_grading, run_nbgrader, run_autograde):
    """The whole sequence, run once; returns what each step left, for the tests below."""
    top = tmp_path_factory.mktemp("class")
    exchange = top / "exchange"  # missing: nbgrader_config.py creates it, as for a fresh clone
    course = top / "instructor" / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course)
    shutil.copytree(REPO_ROOT / "solutions" / LESSON, course / "solutions" / LESSON)
    shutil.copytree(REPO_ROOT / "lessons" / LESSON, course / "lessons" / LESSON)
    instructor = account(environ_without_grading(), top / "instructor" / "home", exchange)
    learners = {}
    for name in sorted({name for name, _ in SUBMISSIONS}):
        clone = top / name / "course"
        clone.mkdir(parents=True)
        shutil.copy(REPO_ROOT / "nbgrader_config.py", clone)
        learners[name] = (clone, account(environ_without_grading(), top / name / "home", exchange))

    started = time.monotonic()
    run_nbgrader(course, instructor, "release_assignment", LESSON)
    for clone, env in learners.values():
        run_nbgrader(clone, env, "fetch_assignment", LESSON)
    fetched = {name: clone / "fetched" / LESSON / f"{LESSON}.ipynb" for name, (clone, _) in learners.items()}
    fetched_bytes = {name: path.read_bytes() for name, path in fetched.items()}
    submitted_at = {}
    for name, others in SUBMISSIONS:
        clone, env = learners[name]
        nbformat.write(answered(nbformat.read(fetched[name], as_version=4), others), fetched[name])
        log = run_nbgrader(clone, env, "submit", LESSON, "--student", name)
        submitted_at.setdefault(name, []).append(re.search(rf"Submitted as: cnn-course {LESSON} (.+)$", log,
                                                           flags=re.MULTILINE)[1])
    run_nbgrader(course, instructor, "collect", LESSON)
    graded = run_autograde(course, "grade", str(course / "grading" / "submitted"), "--json", env=instructor)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    feedback = run_autograde(course, "feedback", LESSON, env=instructor)
    assert feedback.returncode == 0, feedback.stderr
    run_nbgrader(course, instructor, "release_feedback", LESSON)
    for name, (clone, env) in learners.items():
        run_nbgrader(clone, env, "fetch_feedback", LESSON, "--student", name)
    exported = run_autograde(course, "export", env=instructor)
    assert exported.returncode == 0, exported.stderr
    print(f"\nthe round trip (release to export, 2 learners, 3 submissions): {time.monotonic() - started:.0f} s")
    return {"course": course, "learners": learners, "fetched": fetched_bytes, "submitted_at": submitted_at,
            "grades": [json.loads(line) for line in graded.stdout.splitlines()]}


@pytest.mark.slow
def test_learners_fetch_the_released_lesson(term):
    released = (REPO_ROOT / "lessons" / LESSON / f"{LESSON}.ipynb").read_bytes()
    assert term["fetched"] == {name: released for name in term["learners"]}


@pytest.mark.slow
def test_collect_keeps_each_learners_latest_submission(term):
    submitted = term["course"] / "grading" / "submitted"
    assert sorted(path.name for path in submitted.iterdir()) == sorted(term["learners"])
    for name, times in term["submitted_at"].items():
        assert (submitted / name / LESSON / "timestamp.txt").read_text() == times[-1]


@pytest.mark.slow
def test_grade_scores_each_learner_on_the_latest_submission(term):
    latest = dict(SUBMISSIONS)  # the last submission of each learner
    assert {entry["student"]: (entry["score"], entry["max_score"]) for entry in term["grades"]} == {
        name: points_of(others) for name, others in latest.items()}
    failed = {entry["student"]: {e["name"]: e["message"] for e in entry["exercises"] if not e["passed"]}
              for entry in term["grades"]}
    assert {name: sorted(messages) for name, messages in failed.items()} == {
        name: sorted(others) for name, others in latest.items()}
    for name, others in latest.items():  # a wrong answer fails where it is expected to
        for grade_id, answer in others.items():
            assert answer.says in failed[name][grade_id], (name, grade_id, failed[name][grade_id])


@pytest.mark.slow
def test_each_learner_fetches_their_own_feedback_with_their_score(term):
    latest = dict(SUBMISSIONS)
    for name, (clone, _) in term["learners"].items():
        folders = list((clone / "fetched" / LESSON / "feedback").iterdir())
        # feedback exists for the collected submission only: the latest one
        assert [folder.name for folder in folders] == [term["submitted_at"][name][-1]]
        page = (folders[0] / f"{LESSON}.html").read_text()
        shown = re.search(rf"{LESSON} \(Score: ([\d.]+) / ([\d.]+)\)", page)
        assert shown, f"{name}'s feedback page shows no score"
        assert (float(shown[1]), float(shown[2])) == points_of(latest[name])


@pytest.mark.slow
def test_export_has_one_row_per_learner_with_their_total(term):
    with open(term["course"] / "grading" / "grades.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    latest = dict(SUBMISSIONS)
    assert {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in rows} == {
        name: points_of(others) for name, others in latest.items()}
