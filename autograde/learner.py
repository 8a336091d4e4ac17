"""Learner commands: `check NOTEBOOK` grades a notebook now, `status` shows progress over all lessons.

`check` grades a copy in a private workspace (grading/check/<assignment>/) with its own gradebook, built
from solutions/ exactly as an instructor's would be, so the score is the one the instructor's autograde
gives. The learner's file is never written.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from .course import Course, exercises_of, nbgrader_meta, read_notebook
from .policy import STUB_LINE
from .results import NotebookResult, read_result
from .runner import NbGrader

STUDENT = "learner"


def check(course: Course, notebook_path: Path) -> tuple[NotebookResult, Path]:
    """Grade one notebook; returns its result and the path of its HTML feedback."""
    notebook_path = Path(notebook_path)
    read_notebook(notebook_path)  # a clear error for a missing, non-notebook or broken file
    assignment = course.assignment_for(notebook_path)
    # A fresh workspace per run, moved into place at the end: two checks at once do not trip over each other.
    (course.grading_dir / "check").mkdir(parents=True, exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix=f".{assignment}-", dir=course.grading_dir / "check"))
    nbgrader = NbGrader(
        course, workspace / "nbgrader.log",
        release_directory=str(workspace / "release"),
        submitted_directory=str(workspace / "submitted"),
        autograded_directory=str(workspace / "autograded"),
        feedback_directory=str(workspace / "feedback"),
        db_url=f"sqlite:///{workspace / 'gradebook.db'}",
    )
    nbgrader.generate_assignment(assignment)
    submitted = nbgrader.path("submitted", STUDENT, assignment)
    submitted.parent.mkdir(parents=True)
    shutil.copyfile(notebook_path, submitted)
    nbgrader.autograde(assignment, STUDENT)
    nbgrader.generate_feedback(assignment, STUDENT)
    source = nbformat.read(course.source_notebook(assignment), as_version=4)
    autograded = nbgrader.path("autograded", STUDENT, assignment)
    result = read_result(nbgrader.coursedir.db_url, assignment, STUDENT, autograded, source, label=str(notebook_path))
    _remember(course, assignment, notebook_path, result)
    final = course.grading_dir / "check" / assignment
    shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(workspace, final)
    except OSError:  # another check of the same notebook finished first: keep this one where it is
        final = workspace
    return result, final / nbgrader.path("feedback", STUDENT, assignment).relative_to(workspace)


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _remember(course: Course, assignment: str, notebook_path: Path, result: NotebookResult) -> None:
    """Keep the latest check of each assignment for `status`."""
    record = {"notebook": str(Path(notebook_path).resolve()), "sha256": _fingerprint(notebook_path),
              "checked_at": time.strftime("%Y-%m-%d %H:%M"), "score": result.score, "max_score": result.max_score}
    (course.grading_dir / "check" / f"{assignment}.json").write_text(json.dumps(record))


def status(course: Course) -> str:
    """A table of every lesson: answers written so far and the latest check's score."""
    assignments = course.assignments()
    if not assignments:
        return f"no lessons yet: {course.source_dir} has no assignments"
    width = max(len("lesson"), *(len(name) for name in assignments))
    lines = [f"{'lesson':<{width}}  answered  last check"]
    for assignment in assignments:
        lesson = course.release_notebook(assignment)
        source = nbformat.read(course.source_notebook(assignment), as_version=4)
        total = sum(1 for exercise in exercises_of(source) if exercise.answer_id)
        if lesson.exists():
            answers = [cell for cell in read_notebook(lesson).cells
                       if nbgrader_meta(cell).get("solution") and not nbgrader_meta(cell).get("grade")]
            answered = f"{sum(STUB_LINE not in cell.source for cell in answers)}/{total}"
        else:
            answered = "missing"
        lines.append(f"{assignment:<{width}}  {answered:>8}  {_last_check(course, assignment, lesson)}")
    lines.append(f"(answered: answer cells that no longer raise NotImplementedError; "
                 f"`autograde check {course.release_dir.name}/NN_name/NN_name.ipynb` grades one)")
    return "\n".join(lines)


def _last_check(course: Course, assignment: str, lesson: Path) -> str:
    record_path = course.grading_dir / "check" / f"{assignment}.json"
    if not record_path.exists():
        return "never"
    record = json.loads(record_path.read_text())
    text = f"{record['score']:g}/{record['max_score']:g} on {record['checked_at']}"
    if record["notebook"] == str(lesson.resolve()) and lesson.exists() and _fingerprint(lesson) != record["sha256"]:
        text += " (changed since)"
    elif record["notebook"] != str(lesson.resolve()):
        text += f" (of {record['notebook']})"
    return text
