"""Drives the course's JupyterLab in headless Chromium, the way a learner or an instructor uses it.

`LabSession` starts `./course` on a free loopback port with a token (the README's command, run from a shell that
has not activated .venv) and a headless Chromium, and on close stops both and looks for anything they left
running. `Notebook` is one notebook open in that JupyterLab, used through its menus, toolbar, mouse and keyboard;
what it reads back is what the page shows.

The server's root is the repository, so the notebooks under test are copies inside it, in artifacts/browser/
(git-ignored), next to the screenshots and the server's log.
"""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from utils.settings import REPO_ROOT

ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
NOTEBOOKS = ARTIFACTS / "notebooks"
SCREENSHOTS = ARTIFACTS / "screenshots"
# Where the learner's Assignment List puts fetched lessons: under the server's root (the repository), so that
# JupyterLab can open them, and out of the repository's own folders.
FETCHED = ARTIFACTS / "fetched"

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; Playwright's own browser downloads are not used
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
VIEWPORT = {"width": 1400, "height": 900}

# Every process started for a session carries this variable with the session's id, so that one left running
# is found by its environment even after it has been re-parented away from our process tree.
RUN_MARKER = "CNN_COURSE_BROWSER_RUN"

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


# ---- notebooks on disk -------------------------------------------------------------------------------------


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_answer(cell: dict) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def solution_source(assignment: str, cell_id: str) -> str:
    """The instructor's answer for the cell `cell_id`, as a learner would type it (no nbgrader markers)."""
    source = REPO_ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    for cell in read_notebook(source)["cells"]:
        if grade_id(cell) == cell_id and is_answer(cell):
            lines = "".join(cell["source"]).splitlines(keepends=True)
            return "".join(line for line in lines if line.strip() not in SOLUTION_MARKERS)
    raise LookupError(f"{source} has no answer cell with grade_id {cell_id!r}")


def lesson_copy(assignment: str, name: str, solved: bool) -> Path:
    """A copy of the released lesson in artifacts/browser/notebooks/; with solved=True every answer cell holds
    the instructor's solution (matched by nbgrader grade_id, so edits to the lesson do not break it)."""
    notebook = read_notebook(REPO_ROOT / "lessons" / assignment / f"{assignment}.ipynb")
    if solved:
        for cell in notebook["cells"]:
            if is_answer(cell):
                cell["source"] = solution_source(assignment, grade_id(cell))
    NOTEBOOKS.mkdir(parents=True, exist_ok=True)
    path = NOTEBOOKS / name
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return path


# ---- the server, the browser and what they leave behind -----------------------------------------------------


def marked_processes(run_id: str) -> dict[int, str]:
    """pid -> command line of every process whose environment carries this session's RUN_MARKER."""
    wanted = f"{RUN_MARKER}={run_id}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found[int(entry.name)] = command.strip()[:160]
        except OSError:  # gone meanwhile, or another user's
            continue
    return found


def learner_environment(base: dict, home: Path, run_id: str) -> dict:
    """The environment of a learner's shell for ./course, with this session's private Jupyter folders, from
    `base`: this process's environment without the grading settings (so the course's default course id and
    exchange, whatever the developer's shell says)."""
    env = dict(base)
    # ./course finds .venv by itself; a learner's shell has not activated it (nor put its bin/ on PATH).
    venv_bin = (Path(sys.prefix) / "bin").resolve()
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if entry and Path(entry).resolve() != venv_bin
    )
    env.pop("VIRTUAL_ENV", None)
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # JupyterLab's first-start question about news would otherwise sit over the bottom of every screenshot.
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env.update({
        "CNN_COURSE_PROFILE": "smoke",  # training cells take seconds (CNN_COURSE_DATA is inherited)
        # A gradebook folder that does not exist yet, as in a fresh clone; the repository's grading/ is left alone.
        # The exchange is, by default, in there too (grading/exchange), created by nbgrader_config.py.
        "CNN_COURSE_GRADING": str(home / "grading"),
        "CNN_COURSE_FETCHED": str(FETCHED),
        # nbgrader keeps a copy of each submission in the Jupyter data folder (its cache): this session's own.
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        RUN_MARKER: run_id,
    })  # fmt: skip
    return env


class CourseServer:
    """`./course --no-browser --port=... --ip=127.0.0.1 --IdentityProvider.token=...`, in its own process group."""

    def __init__(self, env: dict, cwd: Path, log_path: Path, port: int):
        self.port, self.token = port, secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        # The README's command; port_retries=0 makes a port taken meanwhile an error, not a server elsewhere.
        command = [str(REPO_ROOT / "course"), "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
                   f"--IdentityProvider.token={self.token}", "--ServerApp.port_retries=0"]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_until_ready(self, timeout: float) -> None:
        # ./course may first have to install .venv (a stale stamp); the server answers once JupyterLab is up.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("status")
                return
            except OSError:
                if self.process.poll() is not None:
                    problem = f"./course exited with {self.process.returncode}"
                elif time.monotonic() > deadline:
                    problem = f"JupyterLab did not answer within {timeout:.0f} s"
                else:
                    time.sleep(0.5)
                    continue
                raise RuntimeError(f"{problem}; the end of its log:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_errors(self, lines: int = 12) -> str:
        """The server log's last error lines (tracebacks' last lines), for failure messages."""
        text = self.log_path.read_text(errors="replace").splitlines()
        errors = [line.strip() for line in text if re.search(r"^\s*\w+(\.\w+)*(Error|Exception)\b|\[E ", line)]
        return "\n".join(errors[-lines:]) or "(no error in the server log)"

    def shut_down_kernels(self) -> None:
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def stop(self, timeout: float = 30) -> None:
        # SIGTERM is a learner's Ctrl+C: JupyterLab shuts its kernels down and exits.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


class LabSession:
    """The course's JupyterLab and a headless Chromium, started together and stopped together."""

    def __init__(self, home: Path, environment: dict, port: int):
        """environment: the shell's, without the grading settings; port: a free one for JupyterLab."""
        from playwright.sync_api import sync_playwright  # imported here: a missing package fails the fixture

        self.run_id = uuid.uuid4().hex
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.environment = learner_environment(environment, home, self.run_id)
        self.server = CourseServer(self.environment, cwd=home, log_path=ARTIFACTS / "jupyterlab.log", port=port)
        self.playwright = self.browser = None
        try:
            self.server.wait_until_ready(timeout=300)
            # The Playwright driver (a node process) takes its environment from ours when it starts.
            os.environ[RUN_MARKER] = self.run_id
            try:
                self.playwright = sync_playwright().start()
            finally:
                del os.environ[RUN_MARKER]
            self.browser = self.playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env={**os.environ, RUN_MARKER: self.run_id}
            )
        except BaseException:
            self.close()
            raise

    def new_page(self):
        context = self.browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        return context.new_page()

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
        if self.playwright is not None:
            self.playwright.stop()
        self.server.stop()

    def leftovers(self, grace: float = 30) -> dict[int, str]:
        """Processes of this session still running `grace` seconds after close(); they are then killed."""
        deadline = time.monotonic() + grace
        while (left := marked_processes(self.run_id)) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left


# ---- JupyterLab's pages ------------------------------------------------------------------------------------


def click_menu(page, menu: str, item: str) -> None:
    """Menu bar -> menu -> item, matching the labels exactly ("Run All Cells" is not "Restart ... All Cells")."""
    page.locator(".lm-MenuBar-item").filter(has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel").filter(has_text=re.compile(rf"^{re.escape(item)}$")).click()


def formgrader_assignments(page, server: CourseServer, timeout: float = 120) -> list[str]:
    """Nbgrader > Formgrader (a JupyterLab tab holding the formgrader page): the names in its assignment table."""
    from playwright.sync_api import expect

    page.locator(".lm-MenuBar-item", has_text="Nbgrader").wait_for(timeout=timeout * 1000)  # JupyterLab is up
    # The page shows "Loading, please wait..." until its API call answers, and keeps showing it if that fails.
    with page.expect_response(lambda r: "/formgrader/api/assignments" in r.url, timeout=timeout * 1000) as answer:
        click_menu(page, "Nbgrader", "Formgrader")
    assert answer.value.ok, (f"the formgrader could not list the assignments (HTTP {answer.value.status}); "
                             f"server log errors:\n{server.log_errors()}")  # fmt: skip
    names = formgrader_frame(page).locator("#main-table tr td:first-child")
    names.first.wait_for(timeout=timeout * 1000)
    expect(names.first).not_to_have_text("Loading, please wait...", timeout=timeout * 1000)
    return [name.strip() for name in names.all_inner_texts()]


def formgrader_frame(page):
    """The formgrader's page, inside its JupyterLab tab."""
    return page.frame_locator("#jp-main-dock-panel iframe[src*='formgrader']")


def formgrader_action(page, assignment: str, column: str, timeout: float = 120) -> str:
    """Click the formgrader's button in `column` ("release", "collect") of the assignment's row; returns what the
    dialog that answers says (a success or an error, with nbgrader's log), after closing it."""
    frame = formgrader_frame(page)
    frame.locator(f"#main-table tr:has(td.name[data-order='{assignment}']) td.{column} a").click()
    dialog = frame.locator("#success-modal, #error-modal")
    dialog.wait_for(timeout=timeout * 1000)
    said = dialog.inner_text()
    dialog.locator("button", has_text="OK").click()
    dialog.wait_for(state="detached")
    return said


def formgrader_cell(page, assignment: str, column: str):
    """One cell of the formgrader's assignment table (column: e.g. "status", "num-submissions")."""
    return formgrader_frame(page).locator(f"#main-table tr:has(td.name[data-order='{assignment}']) td.{column}")


class AssignmentList:
    """nbgrader's Assignment List (Nbgrader > Assignment List): a learner's released, downloaded (fetched) and
    submitted lessons, each section with a button per lesson (Fetch, Submit, Fetch Feedback)."""

    def __init__(self, page, timeout: float = 120):
        self.page, self.timeout = page, timeout
        tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Assignments")
        if tab.count():
            tab.click()
        else:
            click_menu(page, "Nbgrader", "Assignment List")
        self.panel = page.locator("#nbgrader-assignment-list")
        self.wait_until_loaded()

    def wait_until_loaded(self) -> None:
        for section in ("released", "fetched", "submitted"):
            self.panel.locator(f"#{section}_assignments_list_loading").wait_for(state="hidden",
                                                                                timeout=self.timeout * 1000)
        errors = [text.strip() for text in self.panel.locator(".list_error:visible").all_inner_texts()]
        assert not any(errors), f"the Assignment List shows an error: {errors}"

    def button(self, section: str, assignment: str):
        """The button of the lesson's row in one section ("released", "fetched" or "submitted")."""
        row = self.panel.locator(f"#{section}_assignments_list > .list_item", has_text=assignment)
        return row.locator(".item_status button").first

    def press(self, section: str, assignment: str, label: str, then: str) -> None:
        """Press the lesson's button `label` in `section`; returns once the lesson shows up in section `then`."""
        button = self.button(section, assignment)
        assert button.inner_text() == label, f"{assignment} in {section}: the button says {button.inner_text()!r}"
        button.click()
        self.button(then, assignment).wait_for(timeout=self.timeout * 1000)

    def open_notebook(self, assignment: str, notebook: str) -> None:
        """Unfold a fetched lesson's row and click one of its notebooks (JupyterLab opens it in a new tab)."""
        row = self.panel.locator("#fetched_assignments_list > .list_item", has_text=assignment)
        row.locator(".assignment-notebooks-link").click()
        row.locator(".nested_list_item a", has_text=re.compile(rf"^{re.escape(notebook)}$")).click()


_KERNEL_IDLE = "document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'"


class Notebook:
    """A notebook of the repository open in JupyterLab, in a workspace of its own (no tabs restored), or, without a
    workspace, the one being opened in the page by a click (from the Assignment List)."""

    def __init__(self, page, server: CourseServer, path: Path, workspace: str | None, timeout: float = 180):
        self.page, self.path = page, path
        self.source = read_notebook(path)
        if workspace:
            relative = path.relative_to(REPO_ROOT).as_posix()
            page.goto(server.url(f"lab/workspaces/{workspace}/tree/{relative}"))
        # Cells attach in batches while the kernel starts; ready = every cell there and the kernel idle.
        page.wait_for_function(
            f"document.querySelectorAll('.jp-NotebookPanel .jp-Cell').length === {len(self.source['cells'])}"
            f" && {_KERNEL_IDLE}",
            timeout=timeout * 1000,
        )

    # -- finding cells

    def cell(self, index: int):
        return self.page.locator(".jp-NotebookPanel .jp-Cell").nth(index)

    def index_of(self, cell_id: str) -> int:
        """Position of the cell with this nbgrader grade_id (positions are the notebook file's)."""
        for index, cell in enumerate(self.source["cells"]):
            if grade_id(cell) == cell_id:
                return index
        raise LookupError(f"{self.path.name} has no cell with grade_id {cell_id!r}")

    def test_cells_after(self, answer: int) -> list[int]:
        """The graded test cells that directly follow an answer cell."""
        cells, tests = self.source["cells"], []
        for index in range(answer + 1, len(cells)):
            nbgrader = cells[index].get("metadata", {}).get("nbgrader", {})
            if not nbgrader.get("grade") or nbgrader.get("solution"):
                break
            tests.append(index)
        return tests

    def first_code_cell(self) -> int:
        return next(i for i, cell in enumerate(self.source["cells"]) if cell["cell_type"] == "code")

    # -- doing what a learner does

    def menu(self, menu: str, item: str) -> None:
        click_menu(self.page, menu, item)

    def select(self, index: int) -> None:
        self.cell(index).locator(".jp-InputPrompt").click()  # selects the cell in command mode

    def type_into(self, index: int, text: str) -> None:
        """Replace the cell's source by `text`, as a paste would (no auto-indent or closing brackets)."""
        self.cell(index).locator(".cm-content").click(position={"x": 20, "y": 8})  # clear of the cell's toolbar
        self.page.keyboard.press("ControlOrMeta+a")
        text = text.rstrip("\n")
        self.page.keyboard.insert_text(text)
        shown = "\n".join(self.cell(index).locator(".cm-line").all_text_contents())
        assert shown == text, f"the editor shows {shown!r} after typing {text!r}"

    def run(self, index: int, timeout: float = 120) -> None:
        """Shift+Enter on the cell; returns once it has a new execution count and the kernel is idle."""
        before = self.prompt(index)
        self.select(index)
        self.page.keyboard.press("Shift+Enter")
        self.page.wait_for_function(
            f"([cell, before]) => {{ const p = cell.querySelector('.jp-InputPrompt').textContent.trim();"
            f" return /^\\[\\d+\\]:$/.test(p) && p !== before && {_KERNEL_IDLE}; }}",
            arg=[self.cell(index).element_handle(), before],
            timeout=timeout * 1000,
        )

    def wait_for_queue(self, timeout: float) -> None:
        """After Run All (or Run All Above): the first code cell has run and no cell is queued or running.
        An error stops the queue and leaves the cells after it unrun: callers check for both."""
        first = self.first_code_cell()
        self.page.wait_for_function(
            "first => { const cells = [...document.querySelectorAll('.jp-NotebookPanel .jp-Cell')];"
            " const prompts = cells.map(c => c.querySelector('.jp-InputPrompt')?.textContent.trim() ?? '');"
            " return /^\\[\\d+\\]:$/.test(prompts[first]) && !prompts.some(p => p.includes('*'))"
            f" && {_KERNEL_IDLE}; }}",
            arg=first,
            timeout=timeout * 1000,
        )

    def save(self) -> dict:
        """Save with the toolbar's button; returns the notebook as written to disk, outputs exactly as shown."""
        self.page.locator(".jp-NotebookPanel-toolbar [data-command='docmanager:save']").click()
        self.page.wait_for_function("!document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.jp-mod-dirty')")
        return read_notebook(self.path)

    # -- reading what the page shows

    def prompt(self, index: int) -> str:
        return self.cell(index).locator(".jp-InputPrompt").text_content().strip()

    def outputs(self, index: int) -> list[tuple[str, str]]:
        """(mime type, text) of each output the cell shows."""
        return [tuple(pair) for pair in self.cell(index).locator(".jp-OutputArea-output").evaluate_all(
            "outputs => outputs.map(o => [o.dataset.mimeType, o.textContent])")]  # fmt: skip

    def stderr(self, index: int) -> list[str]:
        """What the cell shows in red: its errors (JupyterLab renders a traceback as stderr) and stderr writes."""
        return [text for mime, text in self.outputs(index) if mime == "application/vnd.jupyter.stderr"]
