"""The course in a real browser: a learner's and an instructor's path through JupyterLab, in headless Chromium.

One JupyterLab, started by `./course` as the README says, and one Chromium serve the whole module; each step opens
its own page and leaves artifacts/browser/screenshots/<step>.png, also when it fails. Notebook copies go to
artifacts/browser/notebooks/, the server's log to artifacts/browser/jupyterlab.log.
`--no-browser` skips these tests; without it, a missing Chromium fails them.
"""

import ast
import re
from pathlib import Path

import pytest
from lab_driver import CHROMIUM, SCREENSHOTS, LabSession, Notebook, formgrader_assignments, lesson_copy, solution_source

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
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
    session = LabSession(tmp_path_factory.mktemp("jupyterlab"))
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
