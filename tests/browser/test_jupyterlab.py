"""The course in a real browser: a learner's and an instructor's path through JupyterLab, in headless Chromium.

One JupyterLab, started by `./course` as the README says, and one Chromium serve the whole module; each step opens
its own page and leaves artifacts/browser/screenshots/<step>.png, also when it fails. Notebook copies go to
artifacts/browser/notebooks/, the server's log to artifacts/browser/jupyterlab.log.
`--no-browser` skips these tests; without it, a missing Chromium fails them.
"""

import ast
import json
import re
import shutil
from pathlib import Path

import pytest
from lab_driver import (
    CHROMIUM,
    FETCHED,
    SCREENSHOTS,
    AssignmentList,
    LabSession,
    Notebook,
    formgrader_action,
    formgrader_assignments,
    formgrader_cell,
    formgrader_frame,
    grade_id,
    is_answer,
    lesson_copy,
    solution_source,
)

from utils.settings import REPO_ROOT

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory, environ_without_grading, free_port):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (sudo apt-get install chromium), "
                    "or skip the browser tests with --no-browser", pytrace=False)  # fmt: skip
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("the Playwright Python package is missing: pip install -e '.[dev]', "
                    "or skip the browser tests with --no-browser", pytrace=False)  # fmt: skip
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):  # a picture from an earlier run must not pass for this run's
        old.unlink()
    shutil.rmtree(FETCHED, ignore_errors=True)  # lessons an earlier run fetched would show as fetched already
    session = LabSession(tmp_path_factory.mktemp("jupyterlab"), environ_without_grading(), free_port())
    yield session
    session.close()
    left = session.leftovers()
    if left:
        pytest.fail(f"still running after JupyterLab and Chromium were stopped (now killed): {left}", pytrace=False)


@pytest.fixture
def page(lab, request):
    page = lab.new_page()
    try:
        yield page
    finally:
        try:
            page.screenshot(path=SCREENSHOTS / f"{request.node.name.removeprefix('test_')}.png")
        finally:
            page.context.close()
            lab.server.shut_down_kernels()  # the next step's kernel gets the CPU to itself


def _problems(saved: dict, before: int | None = None) -> list[str]:
    """Error outputs and unrun code cells (Run All stops at an error) among the first `before` cells."""
    found = []
    for index, cell in enumerate(saved["cells"][:before]):
        if cell["cell_type"] != "code":
            continue
        errors = [output for output in cell["outputs"] if output["output_type"] == "error"]
        found += [f"cell {index}: {error['ename']}: {error['evalue']}" for error in errors]
        if not cell["execution_count"]:
            found.append(f"cell {index} did not run")
    return found


def test_solved_lenet5_runs_all_cells_and_plots(lab, page):
    path = lesson_copy("01_lenet5", "01_lenet5_solved.ipynb", solved=True)
    notebook = Notebook(page, lab.server, path, workspace="run-all")
    notebook.menu("Run", "Run All Cells")
    notebook.wait_for_queue(timeout=600)
    problems = _problems(notebook.save())
    assert not problems, f"Run All Cells on the solved lesson: {problems}"

    images = page.locator(".jp-NotebookPanel .jp-OutputArea-output[data-mime-type='image/png'] img")
    assert images.count() >= 1, "no plot image in the outputs"
    images.first.evaluate("img => img.scrollIntoView({block: 'center'})")  # into the screenshot
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=images.first.element_handle())


# lessons/00_foundations, exercise 1: conv_output_size(size, kernel, stride=1, padding=0, dilation=1).
EXERCISE_LESSON, EXERCISE_ID = "00_foundations", "ex1-answer"
WRONG_ANSWER = (
    "def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):\n"
    "    return size - kernel  # forgets the window that starts at the last position\n"
)


def _call_arguments(text: str) -> tuple[int, int, int, int, int]:
    """'28, 3, padding=1' -> (size, kernel, stride, padding, dilation), with the exercise's defaults."""
    call = ast.parse(f"f({text})", mode="eval").body
    names = ("size", "kernel", "stride", "padding", "dilation")
    values = {"stride": 1, "padding": 0, "dilation": 1}
    values.update(zip(names, map(ast.literal_eval, call.args), strict=False))
    values.update({keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords})
    return tuple(values[name] for name in names)


def test_exercise_passes_when_right_and_explains_when_wrong(lab, page):
    path = lesson_copy(EXERCISE_LESSON, f"{EXERCISE_LESSON}_exercise.ipynb", solved=False)
    notebook = Notebook(page, lab.server, path, workspace="exercise")
    answer = notebook.index_of(EXERCISE_ID)  # by grade_id: the lesson may gain or lose cells around it
    tests = notebook.test_cells_after(answer)
    assert tests, f"no visible test cell after {EXERCISE_ID}"
    # The exercise's imports and data come from the cells above it.
    notebook.select(answer)
    notebook.menu("Run", "Run All Above Selected Cell")
    notebook.wait_for_queue(timeout=300)
    problems = _problems(notebook.save(), before=answer)
    assert not problems, f"the cells above the exercise: {problems}"

    notebook.type_into(answer, solution_source(EXERCISE_LESSON, EXERCISE_ID))
    for index in (answer, *tests):
        notebook.run(index)
        assert not notebook.stderr(index), f"with the right answer, cell {index} shows {notebook.stderr(index)}"

    notebook.type_into(answer, WRONG_ANSWER)
    notebook.run(answer)
    assert not notebook.stderr(answer), notebook.stderr(answer)
    notebook.run(tests[0])
    shown = "\n".join(notebook.stderr(tests[0]))
    found = re.search(r"CheckFailed: conv_output_size\((?P<call>[^)]*)\): expected (?P<expected>-?\d+), "
                      r"got (?P<got>-?\d+)", shown)  # fmt: skip
    assert found, f"the test cell does not show the friendly CheckFailed message:\n{shown[-1500:]}"
    # The message names the call, the right value and the learner's; both numbers worked out here by hand.
    n, k, s, p, d = _call_arguments(found["call"])
    assert int(found["expected"]) == (n + 2 * p - d * (k - 1) - 1) // s + 1  # a window spans d(k-1)+1 pixels
    assert int(found["got"]) == n - k  # what WRONG_ANSWER returns


def test_validate_button_passes_a_solved_notebook(lab, page):
    path = lesson_copy(EXERCISE_LESSON, f"{EXERCISE_LESSON}_solved.ipynb", solved=True)
    Notebook(page, lab.server, path, workspace="validate")
    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()  # nbgrader's button: saves, then validates
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=600_000)  # nbgrader first runs the whole notebook on the server
    report = dialog.inner_text()
    assert dialog.locator(".validation-success").count() == 1, (
        f"Validate reported:\n{report[:2000]}\nserver log errors:\n{lab.server.log_errors()}"
    )
    assert "Success! Your notebook passes all the tests." in report


def test_formgrader_lists_the_course_assignments(lab, page):
    expected = sorted(notebook.parent.name for notebook in (REPO_ROOT / "solutions").glob("*/*.ipynb"))
    page.goto(lab.server.url("lab/workspaces/formgrader"))
    listed = formgrader_assignments(page, lab.server)
    missing = sorted(set(expected) - set(listed))
    assert not missing, f"the formgrader lists {listed}, without {missing}"


# The exchange: the course's defaults (an exchange in the grading directory), one account as instructor and learner.
EXCHANGE_LESSON = "01_lenet5"


def test_a_lesson_goes_through_the_exchange_and_is_graded(lab, page, request, run_autograde):
    """The instructor releases lesson 01 with the formgrader's Release button; a learner fetches it in the
    Assignment List, opens it from there, answers all but its last exercise and submits it there; the
    formgrader's Collect button collects it and `autograde grade` gives it the points of the answered exercises."""
    from playwright.sync_api import expect  # here, so that a missing Playwright fails as the `lab` fixture says

    def snapshot(label):
        page.screenshot(path=SCREENSHOTS / f"{request.node.name.removeprefix('test_')}-{label}.png")

    lesson = EXCHANGE_LESSON
    page.goto(lab.server.url("lab/workspaces/exchange"))
    formgrader_assignments(page, lab.server)
    warnings = formgrader_frame(page).locator("#warning-exchange, #warning-course-id").all_inner_texts()
    assert not warnings, f"the formgrader warns: {warnings}"
    said = formgrader_action(page, lesson, "release")
    assert f"Successfully released '{lesson}'" in said, said
    # The formgrader refreshes the row after its dialog, from the server: Playwright's 5 s default for expect (the
    # context's default timeout does not apply to it) is too short on a loaded machine.
    expect(formgrader_cell(page, lesson, "status")).to_have_text("released", timeout=120_000)
    snapshot("1-released")

    assignments = AssignmentList(page)
    assignments.press("released", lesson, "Fetch", then="fetched")
    assignments.open_notebook(lesson, lesson)
    notebook = Notebook(page, lab.server, FETCHED / lesson / f"{lesson}.ipynb", workspace=None)
    *answered, unanswered = [index for index, cell in enumerate(notebook.source["cells"]) if is_answer(cell)]
    for index in answered:
        notebook.type_into(index, solution_source(lesson, grade_id(notebook.source["cells"][index])))
    notebook.save()
    snapshot("2-answered")
    assignments = AssignmentList(page)
    assignments.press("fetched", lesson, "Submit", then="submitted")
    snapshot("3-submitted")

    page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Formgrader").click()
    said = formgrader_action(page, lesson, "collect")
    assert f"Successfully collected submissions of '{lesson}'" in said, said
    expect(formgrader_cell(page, lesson, "num-submissions")).to_have_text("1", timeout=120_000)
    submitted = Path(lab.environment["CNN_COURSE_GRADING"]) / "submitted"
    done = run_autograde(REPO_ROOT, "grade", submitted, "--json", env=lab.environment)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    [result] = [json.loads(line) for line in done.stdout.splitlines()]

    def points(cells: list[int]) -> float:
        return sum(notebook.source["cells"][index]["metadata"]["nbgrader"]["points"] for index in cells)

    earned = points([test for answer in answered for test in notebook.test_cells_after(answer)])
    assert (result["score"], result["max_score"]) == (earned, earned + points(notebook.test_cells_after(unanswered)))
    assert [exercise["name"] for exercise in result["exercises"] if not exercise["passed"]] == [
        grade_id(notebook.source["cells"][unanswered])]
