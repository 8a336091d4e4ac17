"""One graded notebook as a table and as JSON: points per exercise from nbgrader's gradebook, and the first
line of the first failure from the autograded notebook's outputs."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from .course import exercises_of, nbgrader_meta
from .plan import NOT_GRADED

# Errors whose message already says everything (our checks, our exclusions): shown without their name.
SELF_EXPLAINING = {NOT_GRADED, "CheckFailed", "TamperError"}


@dataclass
class ExerciseResult:
    name: str
    points: float
    max_points: float
    passed: bool
    message: str


@dataclass
class NotebookResult:
    notebook: str
    score: float
    max_score: float
    exercises: list[ExerciseResult]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def table(self) -> str:
        width = max([len("exercise")] + [len(exercise.name) for exercise in self.exercises])
        lines = [f"{'exercise':<{width}}  points   max  result"]
        for exercise in self.exercises:
            result = "passed" if exercise.passed else f"failed: {exercise.message}"
            lines.append(f"{exercise.name:<{width}}  {exercise.points:6.1f}  {exercise.max_points:4g}  {result}")
        lines.append(f"{'total':<{width}}  {self.score:6.1f}  {self.max_score:4g}")
        return "\n".join(lines)


def failure_message(cell) -> str:
    """The first line of what went wrong in a test cell ('' when nothing did)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", "Error"), str(output.get("evalue", ""))
            text = evalue if ename in SELF_EXPLAINING else (f"{ename}: {evalue}" if evalue else ename)
            return text.strip().splitlines()[0] if text.strip() else ename
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            first = next((line for line in output.get("text", "").splitlines() if line.strip()), "")
            return f"the test wrote to stderr (nbgrader scores that as zero): {first.strip()}"
    return ""


def read_result(db_url: str, assignment: str, student: str, autograded: Path, source, label: str) -> NotebookResult:
    """The result of one autograded notebook, per exercise of the source notebook; `label` names the notebook."""
    notebook_id = Path(autograded).stem
    graded = nbformat.read(autograded, as_version=4)
    cells = {nbgrader_meta(cell).get("grade_id"): cell for cell in graded.cells if nbgrader_meta(cell).get("grade_id")}
    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission_notebook(notebook_id, assignment, student)
        grades = {grade.name: (grade.score, grade.max_score) for grade in submission.grades}
    exercises = []
    for exercise in exercises_of(source):
        points = max_points = 0.0
        message = ""
        for test_id in exercise.test_ids:
            score, most = grades.get(test_id, (0.0, 0.0))
            max_points += most
            points += score or 0.0
            if (score or 0.0) < most and not message:
                cell = cells.get(test_id, {})
                message = failure_message(cell) if score is not None else "needs manual grading"
                message = message or ("partial credit" if score else "no points")
        exercises.append(ExerciseResult(exercise.name, points, max_points, points >= max_points, message))
    return NotebookResult(label, sum(e.points for e in exercises), sum(e.max_points for e in exercises),
                          exercises)
