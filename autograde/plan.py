"""Which cells of a submission are the learner's, which exercise each belongs to, and which must not run.

The plan starts from the static scan (every cell whose content the learner controls) and grows while the
notebook runs: a cell that kills the kernel or ignores its interrupt is excluded, and the notebook is
graded again without it. Excluding a cell costs its exercise (its test cells are not run and score zero,
with the reason as their error), never another exercise.
"""

from dataclasses import dataclass, field

from nbformat import NotebookNode

from .course import exercises_of, nbgrader_meta
from .scan import free_names, scan_cell, top_level_bindings

# The error shown in place of a cell that was not run. nbgrader scores a test cell with an error as zero.
NOT_GRADED = "NotGraded"


@dataclass
class GradingPlan:
    exercise_of: dict[int, str]  # code cell index -> the exercise it belongs to
    tests: dict[str, list[int]]  # exercise -> indices of its test cells, in order
    answers: dict[str, int]  # exercise -> index of its answer cell
    learner_cells: set[int]  # code cells whose content the learner controls
    # What the lesson's own cells do (e.g. `from utils.models.lenet import C3_CONNECTION_TABLE`): a learner
    # repeating it gains nothing, so the scan does not count it against them.
    lesson_does: set[str] = field(default_factory=set)
    protected: dict[str, str | None] = field(default_factory=dict)  # name -> the import it must stay
    skip: dict[int, tuple[str, str]] = field(default_factory=dict)  # index -> (ename, evalue) shown instead

    @classmethod
    def for_submission(cls, notebook: NotebookNode, source: NotebookNode) -> "GradingPlan":
        """The plan for a sanitized submission (nbgrader metadata already normalized) of `source`."""
        exercise_by_id = {}
        for exercise in exercises_of(source):
            for grade_id in [exercise.answer_id, *exercise.test_ids]:
                if grade_id:
                    exercise_by_id[grade_id] = exercise.name
        # Plain code cells that still read exactly as in the source are the instructor's, not the learner's.
        trusted_sources = {cell.source for cell in source.cells if cell.cell_type == "code" and not nbgrader_meta(cell)}
        lesson_does = {finding.reason for text in trusted_sources for finding in scan_cell(text)}
        # Names the tests read from earlier cells, when the lesson binds them: by an import in its own cells
        # (get_model, checks) or in an earlier test. A learner's cell must not rebind them. (Plain assignments
        # in lesson cells, like `device = ...`, stay free: rebinding them can break a test, not fool it.)
        test_sources = [cell.source for cell in source.cells if nbgrader_meta(cell).get("grade")]
        bound = {}
        for text in trusted_sources:
            bound.update({name: target for name, target in top_level_bindings(text).items() if target})
        for text in test_sources:
            bound.update(top_level_bindings(text))
        read_by_tests = set().union(*map(free_names, test_sources)) if test_sources else set()
        protected = {name: target for name, target in bound.items() if name in read_by_tests}

        tests, answers, learner_cells, known = {}, {}, set(), {}
        for index, cell in enumerate(notebook.cells):
            meta = nbgrader_meta(cell)
            exercise = exercise_by_id.get(meta.get("grade_id"))
            if exercise is not None:
                known[index] = exercise
                if meta.get("grade"):
                    tests.setdefault(exercise, []).append(index)
                elif meta.get("solution"):
                    answers[exercise] = index
            if cell.cell_type == "code":
                restored = meta.get("grade") or meta.get("locked")  # OverwriteCells put the source back
                if not restored and (meta.get("solution") or cell.source not in trusted_sources):
                    learner_cells.add(index)

        # Any other cell belongs to the next exercise (a helper written above an answer, a scratch cell
        # after an exercise's tests), and after the last one, to the last.
        exercise_of, following = {}, None
        for index in range(len(notebook.cells) - 1, -1, -1):
            following = known.get(index, following)
            exercise_of[index] = following
        last = next((known[i] for i in sorted(known, reverse=True)), None)
        exercise_of = {index: name or last for index, name in exercise_of.items()
                       if notebook.cells[index].cell_type == "code" and (name or last)}
        return cls(exercise_of, tests, answers, learner_cells, lesson_does, protected)

    def scan(self, notebook: NotebookNode) -> None:
        """Exclude every learner cell that the static scan flags."""
        for index in sorted(self.learner_cells):
            findings = scan_cell(notebook.cells[index].source, self.protected)
            findings = [finding for finding in findings if finding.reason not in self.lesson_does]
            if findings:
                first = findings[0]
                self.exclude(index, f"{self.describe(index)} {first.reason} (line {first.line})")

    def describe(self, index: int) -> str:
        """How the learner knows the cell: 'the answer cell', 'a cell you added'..."""
        exercise = self.exercise_of.get(index)
        if exercise is not None and self.answers.get(exercise) == index:
            return "the answer cell"
        if exercise is not None and index in self.tests.get(exercise, []):
            return "this exercise's test"
        return "a code cell you added or changed" if index in self.learner_cells else "a cell of the lesson"

    def exclude(self, index: int, reason: str) -> None:
        """Do not run cell `index`; its exercise's tests score zero, saying why."""
        exercise = self.exercise_of.get(index)
        if index not in self.tests.get(exercise, []):
            self.skip[index] = (NOT_GRADED, f"this cell was not run: {reason}")
        for test in self.tests.get(exercise, []):
            self.skip.setdefault(test, (NOT_GRADED, f"exercise {exercise!r} was not graded: {reason}"))

    def skip_rest_of_exercise(self, index: int, reason: str) -> None:
        """After a test timed out: its exercise's later tests would likely hang too; do not wait for them."""
        exercise = self.exercise_of.get(index)
        for test in self.tests.get(exercise, []):
            if test > index:
                self.skip.setdefault(test, (NOT_GRADED, reason))
