"""The autograde commands on real nbgrader runs, with a small fixture assignment graded in many variants.

tests/fixtures/autograde/99_mini.ipynb is an nbgrader source notebook with three exercises (a function,
a small nn.Module, a tensor function), each with a visible and a hidden test: 8 points in all. Each file in
tests/fixtures/autograde/variants/ turns the released notebook into one learner's submission (see
build_submission). All submissions are graded in one `autograde grade` run; the tests read the scores
straight from nbgrader's gradebook, so they do not depend on how autograde reports them.
"""

import copy
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from torch.distributed import TCPStore

from autograde.__main__ import main
from utils.settings import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "autograde"
ASSIGNMENT = "99_mini"
EXERCISES = ["conv_output_size", "tiny_net", "standardize"]
CELL_TIMEOUT = 8  # seconds: short, so that the endless loops cost little test time

# variant -> (points per exercise, the exercise that must score zero and words from its message)
EXPECTED = {
    "solution": ((3, 3, 2), None),
    "stub": ((0, 0, 0), None),
    "alt_style": ((3, 3, 2), None),
    "wrong": ((1, 1, 0), None),
    "noisy": ((3, 3, 2), None),
    "edited_tests": ((0, 0, 0), None),
    "import_reference": ((3, 0, 2), ("tiny_net", "imports utils.models")),
    "patch_torch": ((3, 3, 0), ("standardize", "assigns torch.allclose")),
    "patch_checks": ((0, 3, 2), ("conv_output_size", "assigns utils.checks.check_value")),
    "patch_builtins": ((3, 0, 2), ("tiny_net", "imports builtins")),
    "input_transformer": ((3, 0, 2), ("tiny_net", "input transformer")),
    "rigged_eq": ((0, 3, 2), ("conv_output_size", "subclass of int")),
    "read_solutions": ((3, 3, 0), ("standardize", "No such file or directory")),  # the sandbox shows none
    "os_exit": ((3, 0, 2), ("tiny_net", "made the kernel die")),
    "segfault": ((0, 3, 2), ("conv_output_size", "made the kernel die")),
    "memory": ((3, 3, 0), ("standardize", "can't allocate memory")),
    "loop": ((0, 3, 2), ("conv_output_size", "ran longer than the 8 s limit")),
    "stubborn_loop": ((3, 3, 0), ("standardize", "did not stop when interrupted")),
    "spawn": ((3, 0, 2), ("tiny_net", "starting a program is not allowed")),
    # Beyond the in-kernel guards' sight (native code, plain writes): only the sandbox stops these, and each
    # is right only if its escape worked (test_without_a_sandbox_... shows that they work without one).
    "native_read_solutions": ((3, 3, 0), ("standardize", "values differ")),
    "native_read_gradebook": ((0, 3, 2), ("conv_output_size", "expected 28, got 0")),
    "native_spawn": ((3, 0, 2), ("tiny_net", "expected 690 parameters, found 658")),
    "write_outside": ((0, 3, 2), ("conv_output_size", "expected 28, got 0")),
    "native_network": ((3, 3, 0), ("standardize", "values differ")),
}
ESCAPES = [name for name in EXPECTED if name.startswith("native_") or name == "write_outside"]


# ---- building submissions ----

def solved(answer_source: str) -> str:
    """An answer cell of the source notebook as a learner would write it: without the solution markers."""
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return "\n".join(line for line in answer_source.splitlines() if line.strip() not in markers)


def build_submission(release, source, variant: str):
    """A learner's notebook: the released one with every answer written (unless `# base: stub`), then
    changed by the variant file's sections:
        # %% GRADE_ID                    replace that cell's source with the section's text
        # %% delete GRADE_ID             delete that cell
        # %% metadata GRADE_ID {json}    merge json into that cell's metadata
        # %% after GRADE_ID [bogus-nbgrader]   insert a new code cell (with made-up nbgrader metadata)"""
    if variant == "solution":
        return copy.deepcopy(source)
    notebook = copy.deepcopy(release)
    text = "# base: stub" if variant == "stub" else (FIXTURES / "variants" / f"{variant}.py").read_text()
    header, *sections = re.split(r"^# %% ", text, flags=re.MULTILINE)
    answers = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in source.cells
               if cell.metadata.get("nbgrader", {}).get("solution")}

    def position(grade_id):
        return next(index for index, cell in enumerate(notebook.cells)
                    if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)

    if "# base: stub" not in header:
        for grade_id, answer in answers.items():
            notebook.cells[position(grade_id)].source = solved(answer)
    for section in sections:
        first_line, _, body = section.partition("\n")
        words = first_line.split(maxsplit=2)
        if words[0] == "delete":
            del notebook.cells[position(words[1])]
        elif words[0] == "metadata":
            metadata = notebook.cells[position(words[1])].metadata
            for key, value in json.loads(words[2]).items():
                metadata[key] = {**metadata.get(key, {}), **value} if isinstance(value, dict) else value
        elif words[0] == "after":
            cell = nbformat.v4.new_code_cell(body.strip("\n"))
            if words[2:] == ["bogus-nbgrader"]:
                cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": "lots"}
            notebook.cells.insert(position(words[1]) + 1, cell)
        else:
            notebook.cells[position(words[0])].source = body.strip("\n")
    return notebook


# ---- the course and its grading ----

@pytest.fixture(scope="module")
def marker():
    return f"autograde-test-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def store():
    """A server on this machine (torch's TCP key-value store) that the native_network variant tries to reach."""
    server = TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    server.set("unlock", "yes")
    return server


@pytest.fixture(scope="module")
def grading_env(marker, store, environ_without_grading):
    """The environment of every command: short timeouts, a memory cap, and a marker to find leftovers by."""
    return environ_without_grading(CNN_COURSE_CELL_TIMEOUT=str(CELL_TIMEOUT), CNN_COURSE_KERNEL_MEMORY_MB="2048",
                                   AUTOGRADE_TEST_MARKER=marker, AUTOGRADE_TEST_STORE_PORT=str(store.port))


def make_course(root: Path, env, run_autograde) -> Path:
    """A course with one assignment, the fixture, released with `autograde release`."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(FIXTURES / f"{ASSIGNMENT}.ipynb", root / "solutions" / ASSIGNMENT)
    done = run_autograde(root, "release", env=env)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory, grading_env, run_autograde):
    return make_course(tmp_path_factory.mktemp("course"), grading_env, run_autograde)


@pytest.fixture(scope="module")
def notebooks(course):
    release = nbformat.read(course / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return release, source


def submit(course: Path, notebooks, variants) -> Path:
    """Each variant as a submission in nbgrader's layout; returns the submitted/ folder."""
    submitted = course / "grading" / "submitted"
    for variant in variants:
        folder = submitted / variant / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(build_submission(*notebooks, variant), folder / f"{ASSIGNMENT}.ipynb")
    return submitted


@pytest.fixture(scope="module")
def graded(course, notebooks, grading_env, run_autograde):
    """Every variant, submitted in nbgrader's layout and graded in one `autograde grade` run."""
    submitted = submit(course, notebooks, EXPECTED)
    started = time.monotonic()
    done = run_autograde(course, "grade", str(submitted), "--json", env=grading_env)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"\ngraded {len(EXPECTED)} submissions in {elapsed:.0f} s")
    results = {entry["student"]: entry for entry in map(json.loads, done.stdout.splitlines())}
    return results, done.stderr


def gradebook_points(course: Path, student: str) -> dict[str, float]:
    """Points per exercise, read from nbgrader's gradebook (test cells are named test_<exercise>...)."""
    points = dict.fromkeys(EXERCISES, 0.0)
    with Gradebook(f"sqlite:///{course / 'grading' / 'gradebook.db'}") as gradebook:
        for grade in gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student).grades:
            exercise = next(name for name in EXERCISES if grade.name.startswith(f"test_{name}"))
            points[exercise] += grade.score or 0.0
    return points


# ---- grading ----

@pytest.mark.slow
@pytest.mark.parametrize("variant", list(EXPECTED))
def test_each_variant_gets_the_expected_points(course, graded, variant):
    results, _ = graded
    expected_points, _ = EXPECTED[variant]
    assert gradebook_points(course, variant) == dict(zip(EXERCISES, map(float, expected_points), strict=True))
    reported = results[variant]
    assert [exercise["points"] for exercise in reported["exercises"]] == list(expected_points)
    assert reported["max_score"] == 8.0  # restored and re-inserted tests keep their points, no more


@pytest.mark.slow
@pytest.mark.parametrize("variant", [name for name, (_, zeroed) in EXPECTED.items() if zeroed])
def test_a_misbehaving_exercise_costs_only_itself_and_says_why(graded, variant):
    results, _ = graded
    zeroed, words = EXPECTED[variant][1]
    exercises = {exercise["name"]: exercise for exercise in results[variant]["exercises"]}
    assert not exercises[zeroed]["passed"]
    assert words in exercises[zeroed]["message"]
    assert all(exercises[name]["passed"] for name in EXERCISES if name != zeroed)


@pytest.mark.slow
def test_sandboxed_escapes_change_nothing_outside(course, graded, store):
    """What the escapes tried (see ESCAPES; their scores are checked above) left no trace on this machine."""
    assert not (course / "planted.txt").exists()
    assert not store.check(["reached"])
    assert not list(course.glob("grading/autograded/native_spawn/*/copied.txt"))


@pytest.mark.slow
def test_nbgraders_own_autograde_runs_in_the_sandbox_too(course, graded, grading_env, run_nbgrader):
    """`nbgrader autograde` (what the formgrader's button runs) reads nbgrader_config.py: same sandbox."""
    run_nbgrader(course, grading_env, "autograde", ASSIGNMENT, "--student", "native_read_gradebook", "--force",
                 timeout=600)  # fmt: skip
    assert gradebook_points(course, "native_read_gradebook") == {"conv_output_size": 0.0, "tiny_net": 3.0,
                                                                 "standardize": 2.0}


@pytest.mark.slow
def test_without_a_sandbox_grade_refuses_unless_allowed_and_the_escapes_work(tmp_path, notebooks, grading_env,
                                                                              store, run_autograde):
    """Where bubblewrap is missing (here: not on PATH), `grade` refuses in one line; with --allow-unsandboxed it
    grades with the in-kernel guards alone, which the escapes get past (so the tests above can fail); `check`
    says which mode ran."""
    env = {**grading_env, "PATH": os.path.dirname(sys.executable)}  # no bwrap
    course = make_course(tmp_path / "course", env, run_autograde)
    submitted = submit(course, notebooks, [*ESCAPES, "read_solutions", "wrong"])
    refused = run_autograde(course, "grade", str(submitted), env=env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("autograde: bubblewrap (bwrap) is not installed") and "--allow-unsandboxed" \
        in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    done = run_autograde(course, "grade", str(submitted), "--json", "--allow-unsandboxed", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "graded without a sandboxed kernel" in done.stderr
    scores = {entry["student"]: entry["score"] for entry in map(json.loads, done.stdout.splitlines())}
    assert scores == {**dict.fromkeys(ESCAPES, 8.0), "read_solutions": 6.0, "wrong": 2.0}
    read_solutions = next(entry for entry in map(json.loads, done.stdout.splitlines())
                          if entry["student"] == "read_solutions")
    assert "off limits while grading" in read_solutions["exercises"][2]["message"]  # the in-kernel guard's word
    assert (course / "planted.txt").exists() and store.check(["reached"])
    store.delete_key("reached")

    checked = run_autograde(course, "check", str(submitted / "wrong" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), env=env)
    assert checked.returncode == 0, checked.stderr
    assert re.search(r"^sandbox: none, only the in-kernel guards ran \(bubblewrap \(bwrap\) is not installed",
                     checked.stdout, flags=re.MULTILINE), checked.stdout


@pytest.mark.slow
def test_grading_leaves_no_process_behind(graded, marker):
    """No kernel, and nothing a kernel started (spawn.py tries `sleep 987 &`), outlives the grading run."""
    assert processes_marked(marker) == []


def processes_marked(marker: str) -> list[str]:
    """The ids of the running processes whose environment holds `marker` (a grader passes it to its kernels)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(environ.parent.name)
        except OSError:
            continue  # a process that ended meanwhile, or one we may not read
    return found


@pytest.mark.slow
def test_grade_shows_a_progress_bar_and_reads_existing_grades_without_regrading(course, graded, grading_env,
                                                                                 run_autograde):
    _, stderr = graded
    assert f"{len(EXPECTED)}/{len(EXPECTED)}" in stderr  # tqdm's bar reached the end
    autograded = {path: path.stat().st_mtime_ns for path in (course / "grading" / "autograded").glob(
        f"*/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")}
    assert len(autograded) == len(EXPECTED)
    done = run_autograde(course, "grade", course / "grading" / "submitted", "--assignment", ASSIGNMENT, env=grading_env)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^solution\s+99_mini\s+8/8", done.stdout, flags=re.MULTILINE)
    assert re.search(r"^wrong\s+99_mini\s+2/8", done.stdout, flags=re.MULTILINE)
    # Nothing regraded (nbgrader skips submissions graded before): no autograded notebook was written again.
    assert {path: path.stat().st_mtime_ns for path in autograded} == autograded


@pytest.mark.slow
def test_export_writes_nbgraders_csv(course, graded, grading_env, run_autograde):
    done = run_autograde(course, "export", "--to", str(course / "grades.csv"), env=grading_env)
    assert done.returncode == 0, done.stderr
    rows = (course / "grades.csv").read_text().splitlines()
    header = rows[0].split(",")
    scores = {row.split(",")[header.index("student_id")]: float(row.split(",")[header.index("score")])
              for row in rows[1:]}
    assert scores == {variant: float(sum(points)) for variant, (points, _) in EXPECTED.items()}


@pytest.mark.slow
def test_feedback_pages_explain_the_zeroes(course, graded, grading_env, run_autograde):
    done = run_autograde(course, "feedback", env=grading_env)
    assert done.returncode == 0, done.stderr
    pages = sorted((course / "grading" / "feedback").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.html"))
    assert len(pages) == len(EXPECTED)
    page = (course / "grading" / "feedback" / "import_reference" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "imports utils.models, a reference implementation" in page


@pytest.mark.slow
def test_bad_submissions_get_one_line_each_the_others_a_grade_and_no_file_changes(course, notebooks, grading_env,
                                                                                   tmp_path, run_autograde):
    """Folders as a collect or a hand copy can leave them, graded in one run with a gradebook of their own."""
    solution = nbformat.writes(build_submission(*notebooks, "solution"))
    files = {
        "good/99_mini/99_mini.ipynb": solution,
        "extra_file/99_mini/99_mini.ipynb": solution,
        "extra_file/99_mini/notes.txt": "what I tried first",
        "no_notebook/99_mini/timestamp.txt": "2026-11-30 10:00:00.000000 UTC",  # what nbgrader submit adds
        "renamed/99_mini/99_mini-Copy1.ipynb": solution,
        "not_json/99_mini/99_mini.ipynb": solution[: len(solution) // 2],  # cut off mid-write
    }
    submitted = tmp_path / "submitted"
    for name, text in files.items():
        (submitted / name).parent.mkdir(parents=True, exist_ok=True)
        (submitted / name).write_text(text)
    before = {path: path.read_bytes() for path in submitted.rglob("*") if path.is_file()}

    own_gradebook = grading_env | {"CNN_COURSE_GRADING": str(tmp_path / "grading")}
    done = run_autograde(course, "grade", submitted, env=own_gradebook)
    assert done.returncode == 1  # some submissions could not be graded
    assert "Traceback" not in done.stdout + done.stderr
    header, *lines = done.stdout.splitlines()
    rows = {line.split()[0]: line for line in lines}
    assert len(lines) == len(rows) == 5, done.stdout  # one line per submission
    assert re.search(r"^good\s+99_mini\s+8/8\s*$", rows["good"])
    assert re.search(r"^extra_file\s+99_mini\s+8/8\s+also submitted, not graded: notes.txt$", rows["extra_file"])
    assert f"error: {submitted / 'no_notebook' / ASSIGNMENT} has no 99_mini.ipynb, nor any other file" \
           in rows["no_notebook"]
    assert "has 99_mini-Copy1.ipynb but no 99_mini.ipynb; rename" in rows["renamed"]
    assert f"error: {submitted / 'not_json' / ASSIGNMENT / '99_mini.ipynb'}: not valid JSON" in rows["not_json"]
    assert {path: path.read_bytes() for path in submitted.rglob("*") if path.is_file()} == before


# ---- the learner's check ----

@pytest.mark.slow
def test_check_grades_one_notebook_well_under_a_minute(course, notebooks, grading_env, tmp_path, run_autograde):
    notebook = tmp_path / f"{ASSIGNMENT}.ipynb"
    nbformat.write(build_submission(*notebooks, "solution"), notebook)
    started, cpu_before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = run_autograde(course, "check", str(notebook), env=grading_env)
    elapsed, cpu_after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    print(f"\n`autograde check` of one notebook (3 exercises): {elapsed:.1f} s wall, {cpu:.1f} s CPU")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^total\s+8\.0\s+8$", done.stdout, flags=re.MULTILINE)
    # What it costs, in CPU seconds: wall-clock time on a shared machine is noise. The count may leave out the
    # sandboxed kernel (killed with its process group, it is not always waited for), so a generous wall-clock
    # bound stays as a backstop.
    assert cpu < 60 and elapsed < 300


@pytest.mark.slow
def test_check_json_reports_each_exercise_and_leaves_the_notebook_alone(course, notebooks, grading_env, tmp_path,
                                                                        run_autograde):
    notebook = tmp_path / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"  # found by its name, anywhere
    notebook.parent.mkdir(parents=True)
    nbformat.write(build_submission(*notebooks, "wrong"), notebook)
    before = (hashlib.sha256(notebook.read_bytes()).hexdigest(), notebook.stat().st_mtime_ns)
    done = run_autograde(course, "check", str(notebook), "--json", env=grading_env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"notebook", "score", "max_score", "exercises", "sandbox"}
    assert result["sandbox"] == "bubblewrap"
    assert (result["score"], result["max_score"]) == (2.0, 8.0)
    assert [set(exercise) for exercise in result["exercises"]] == [
        {"name", "points", "max_points", "passed", "message"}] * 3
    first = result["exercises"][0]
    assert (first["name"], first["points"], first["max_points"], first["passed"]) == ("conv_output_size", 1, 3, False)
    assert first["message"] == "conv_output_size(32, 3, padding=1): expected 32, got 30"
    assert (hashlib.sha256(notebook.read_bytes()).hexdigest(), notebook.stat().st_mtime_ns) == before
    feedback = course / "grading" / "check" / ASSIGNMENT / "feedback" / "learner" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert "expected 32, got 30" in feedback.read_text()

    status = run_autograde(course, "status", env=grading_env)
    assert status.returncode == 0, status.stderr
    assert re.search(rf"^{ASSIGNMENT}\s+0/3\s+2/8 on .* \(of {re.escape(str(notebook.resolve()))}\)",
                     status.stdout, flags=re.MULTILINE)


# ---- release ----

@pytest.mark.slow
def test_release_twice_leaves_no_git_diff(course, grading_env, run_autograde):
    def git(*args):
        return subprocess.run(["git", "-C", str(course), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("add", "lessons")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first release")
    done = run_autograde(course, "release", env=grading_env)
    assert done.returncode == 0, done.stderr
    assert git("status", "--porcelain", "lessons") == ""


@pytest.mark.slow
def test_release_check_names_the_files_out_of_sync(course, grading_env, run_autograde):
    lesson = course / "lessons" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    original = lesson.read_bytes()
    stale = course / "lessons" / "42_gone"
    try:
        lesson.write_bytes(original.replace(b"A mini assignment", b"A mini assignment, edited by hand"))
        stale.mkdir()
        done = run_autograde(course, "release", "--check", env=grading_env)
        assert done.returncode == 1
        assert f"{lesson}: differs from a fresh release" in done.stderr
        assert f"{stale}: has no source in solutions/" in done.stderr
    finally:
        lesson.write_bytes(original)
        stale.rmdir()
    done = run_autograde(course, "release", "--check", env=grading_env)
    assert done.returncode == 0, done.stderr


# ---- nbgrader's own tools read the configuration ----

@pytest.mark.slow
def test_nbgrader_apps_find_the_configuration_in_the_course_root(course, grading_env):
    """What nbgrader's JupyterLab extension does underneath: its formgrader lists the assignments through
    NbGraderAPI, and the Validate button runs nbgrader's Validator, both configured from the start folder."""
    script = """
import json
from nbgrader.apps import NbGraderAPI
from nbgrader.apps.baseapp import NbGrader
from nbgrader.validator import Validator
app = NbGrader()
app.load_config_file()
api = NbGraderAPI(config=app.config)
print(json.dumps({
    "assignments": sorted(api.get_source_assignments()),
    "source": api.coursedir.source_directory, "release": api.coursedir.release_directory,
    "stub": Validator(config=app.config).validate("lessons/99_mini/99_mini.ipynb"),
    "solution": Validator(config=app.config).validate("solutions/99_mini/99_mini.ipynb"),
}))
"""
    env = {**grading_env, "CNN_COURSE_CELL_TIMEOUT": "300"}  # plain nbgrader: its kernel imports torch in a cell
    done = subprocess.run([sys.executable, "-c", script], cwd=course, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert (found["assignments"], found["source"], found["release"]) == ([ASSIGNMENT], "solutions", "lessons")
    assert "failed" in found["stub"] and "failed" not in found["solution"]


# ---- one-line errors ----

@pytest.fixture
def in_course(course, grading_env, monkeypatch):
    for name, value in grading_env.items():
        monkeypatch.setenv(name, value)
    return course


def _one_line_error(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("autograde: ") and "Traceback" not in err, err
    return err


@pytest.mark.slow
def test_bad_inputs_give_one_line_errors(in_course, tmp_path, capsys):
    course = str(in_course)
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "list.ipynb").write_text("[1, 2, 3]")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "07_other.ipynb")
    assert "no such file" in _one_line_error(capsys, "--course", course, "check", str(tmp_path / "missing.ipynb"))
    assert "not a notebook" in _one_line_error(capsys, "--course", course, "check", str(tmp_path / "notes.txt"))
    assert "not a notebook" in _one_line_error(capsys, "--course", course, "check", str(tmp_path))
    assert "not valid JSON" in _one_line_error(capsys, "--course", course, "check", str(tmp_path / "broken.ipynb"))
    assert "not a valid notebook" in _one_line_error(capsys, "--course", course, "check",
                                                     str(tmp_path / "list.ipynb"))
    assert "not one of the course's assignments (99_mini)" in _one_line_error(
        capsys, "--course", course, "check", str(tmp_path / "07_other.ipynb"))
    assert "no assignment named '42_missing'" in _one_line_error(capsys, "--course", course, "release", "42_missing")
    assert "no assignment named '42_missing'" in _one_line_error(capsys, "--course", course, "feedback",
                                                                 "42_missing")
    assert "no such directory" in _one_line_error(capsys, "--course", course, "grade", str(tmp_path / "nowhere"))
    (tmp_path / "submitted" / "alice" / "42_missing").mkdir(parents=True)
    assert "not one of the course's assignments" in _one_line_error(
        capsys, "--course", course, "grade", str(tmp_path / "submitted"))
    assert "no nbgrader_config.py" in _one_line_error(capsys, "--course", str(tmp_path), "status")


@pytest.mark.slow
def test_the_installed_command_prints_no_traceback(tmp_path, run_autograde):
    (tmp_path / "broken.ipynb").write_text("{not json")
    done = run_autograde(REPO_ROOT, "check", tmp_path / "broken.ipynb", timeout=300)
    assert done.returncode != 0
    assert done.stderr == f"autograde: {tmp_path / 'broken.ipynb'}: not valid JSON; restore it from a checkpoint " \
                          "(File > Revert) or git\n"


@pytest.mark.slow
def test_repository_lessons_match_solutions(run_autograde):
    """The repository's own lessons/ is what `autograde release` makes of its solutions/ (the CI check)."""
    done = run_autograde(REPO_ROOT, "release", "--check")
    assert done.returncode == 0, done.stderr
