"""The two nbgrader preprocessors that nbgrader_config.py adds to nbgrader's autograde pipeline.

NormalizeSubmission (sanitize step, before nbgrader's own checks): a learner can edit any cell's metadata.
Every cell that claims a grade_id of the source notebook gets exactly the source's metadata back (tags
included: nbclient skips a cell tagged skip-execution, which would give a test cell full marks); every
other claim (unknown, duplicated or malformed nbgrader metadata) is removed, so nbgrader's DeduplicateIds
and CheckCellMetadata cannot crash on it; graded and locked cells that were deleted are put back where
the source has them. nbgrader's OverwriteCells then restores their content from the gradebook. (nbgrader's
own OverwriteCells.add_missing_cells restores graded cells only, and fails with a KeyError when the cell
before a deleted one is a locked cell, as in most lessons: it stays off.)

GuardedExecute (replaces nbgrader's Execute): runs the notebook in a kernel sandboxed by bubblewrap where it
can run (autograde/bubblewrap.py) and prepared by autograde.kernel_guard in every mode, with a scrubbed
environment; does not run the cells the static scan flags (their exercise's tests score zero, saying why);
and when a cell kills the kernel (os._exit, a crash, the out-of-memory killer) or ignores the interrupt
sent at the time limit, grades the notebook again in a fresh kernel without that cell, so that only its
exercise loses points. After a test times out, the later tests of the same exercise are not run. The
kernel's whole process group is killed at the end. Where bubblewrap cannot run it refuses to grade, unless
allow_unsandboxed is set (`autograde check` sets it, and says which mode ran).
"""

import copy
import functools
import os
import queue
import re
import shutil
import signal
import tempfile
import time

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Dict, Enum, Integer, Unicode, default

from . import batch, bubblewrap, kernel_launcher
from .course import CourseSettings, kernel_pythonpath, kernel_readable, nbgrader_meta
from .plan import GradingPlan

# A grading kernel's sockets and connection file live in TMPDIR/autograde-kernel-PID-XXXXXXXX, PID being the
# grader's (see socket_folder).
SOCKET_FOLDER_PREFIX = "autograde-kernel-"

# Environment variables a grading kernel must not see (the gradebook's URL may hold a password).
SECRET_NAMES = re.compile(r"DB_URL|PASSW|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_KEY|JUPYTERHUB_|^JPY_", re.IGNORECASE)


def socket_folder() -> str:
    """A new private folder for one grading kernel's Unix sockets and connection file, named after this grader's
    process id, after removing the folders of graders that are gone.

    A grader ends its kernel's folder itself (GuardedExecute._kill_kernel_group) unless it is killed (kill -9, the
    out-of-memory killer): then the next grader on this machine removes it, as no live process has its id. This is
    simpler than a folder under the grading directory, which the sandbox hides and whose path may exceed a Unix
    socket's 107 characters. A reused process id only delays a removal; another user's folders are left alone
    (in a sticky /tmp the removal fails, and a live process of theirs cannot be signalled: PermissionError)."""
    folder = tempfile.gettempdir()
    for name in os.listdir(folder):
        pid = name[len(SOCKET_FOLDER_PREFIX):].partition("-")[0]
        if name.startswith(SOCKET_FOLDER_PREFIX) and pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{SOCKET_FOLDER_PREFIX}{os.getpid()}-", dir=folder)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        pass
    return True


def _coursedir(preprocessor) -> CourseDirectory:
    """The CourseDirectory of the nbgrader converter running this preprocessor."""
    node = preprocessor
    while node is not None:
        if isinstance(getattr(node, "coursedir", None), CourseDirectory):
            return node.coursedir
        node = node.parent
    return CourseDirectory(config=preprocessor.config)


def _source_notebook(preprocessor, resources) -> NotebookNode:
    coursedir = _coursedir(preprocessor)
    info = resources["nbgrader"]
    folder = coursedir.format_path(coursedir.source_directory, ".", info["assignment"])
    path = os.path.join(folder, f"{info['notebook']}.ipynb")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the source notebook {path} is missing; autograde needs it to grade fairly")
    return nbformat.read(path, as_version=4)


class NormalizeSubmission(NbGraderPreprocessor):
    """Give every graded, locked or answer cell exactly its source metadata; drop every other claim."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        source = _source_notebook(self, resources)
        source_meta = {nbgrader_meta(cell).get("grade_id"): cell.metadata for cell in source.cells
                       if nbgrader_meta(cell).get("grade_id")}
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            points = {cell.name: cell.max_score for cell in notebook.grade_cells + notebook.task_cells}
            solutions = {cell.name for cell in notebook.solution_cells}
            tasks = {cell.name for cell in notebook.task_cells}
            stored = {cell.name: (cell.cell_type, cell.locked, cell.source, cell.checksum)
                      for cell in notebook.source_cells}

        def canonical_metadata(name):
            cell_type, locked, _, checksum = stored[name]
            meta = {"grade": name in points and name not in tasks, "grade_id": name, "locked": locked,
                    "schema_version": 3, "solution": name in solutions, "task": name in tasks,
                    "checksum": checksum}
            if name in points:
                meta["points"] = points[name]
            metadata = copy.deepcopy(dict(source_meta.get(name, {})))
            metadata["nbgrader"] = meta
            return NotebookNode(metadata)

        kept = {}
        for index, cell in enumerate(nb.cells):
            name = nbgrader_meta(cell).get("grade_id")
            if isinstance(name, str) and name in stored and name not in kept:
                kept[name] = index
                cell.metadata = canonical_metadata(name)
            elif "nbgrader" in cell.get("metadata", {}):
                self.log.warning("Removing nbgrader metadata the source does not have (cell %d)", index)
                del cell.metadata["nbgrader"]

        # Put deleted cells back after the nearest source cell that precedes them and is still present.
        order = [name for name in source_meta if name in stored]
        for position, name in enumerate(order):
            if name in kept:
                continue
            self.log.warning("Cell %s was deleted from the submission; putting it back", name)
            before = [kept[other] for other in order[:position] if other in kept]
            at = max(before) + 1 if before else 0
            cell_type, _, text, _ = stored[name]
            restored = (nbformat.v4.new_code_cell(text) if cell_type == "code" else nbformat.v4.new_markdown_cell(text))
            restored.metadata = canonical_metadata(name)
            nb.cells.insert(at, restored)
            kept = {other: index + (index >= at) for other, index in kept.items()}
            kept[name] = at
        return nb, resources


class SandboxUnavailable(RuntimeError):
    """Grading kernels must run in bubblewrap, and it cannot run here."""


def sandbox_unavailable(executable: str) -> str | None:
    """Why grading kernels cannot run in bubblewrap with this setting of GuardedExecute.bubblewrap (None: they can)."""
    if not executable:
        return "bubblewrap is turned off (GuardedExecute.bubblewrap is empty)"
    return bubblewrap.unavailable_reason(executable)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel behind a command prefix: bubblewrap's, when `sandbox` is set."""

    sandbox = None  # kernel's Python executable -> the command to put in front of the kernel's

    def format_kernel_cmd(self, extra_arguments=None):
        command = kernel_launcher.kernel_command(super().format_kernel_cmd(extra_arguments))
        return command if self.sandbox is None else self.sandbox(command[0]) + command


class GuardedExecute(Execute):
    """nbgrader's Execute in a sandboxed kernel, with static flags, crash isolation and no stray processes."""

    bubblewrap = Unicode(
        "bwrap", help="The bubblewrap command that sandboxes grading kernels (Linux); empty: do not use it."
    ).tag(config=True)
    allow_unsandboxed = Bool(
        False, help="Where bubblewrap cannot run, grade with the in-kernel guards alone instead of refusing."
    ).tag(config=True)
    memory_limit_mb = Integer(
        0, help="Memory a grading kernel may allocate (RLIMIT_DATA), in MiB; 0: half of this machine's memory."
    ).tag(config=True)
    file_limit_mb = Integer(1024, help="Largest file a grading kernel may write, in MiB.").tag(config=True)
    max_output_chars = Integer(
        2_000_000, help="Stream and display output kept per cell while it runs; the rest is dropped."
    ).tag(config=True)
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate").tag(config=True)
    # After a cell's reply, how long its last output may take. nbclient's 4 s can run out on a loaded machine
    # (several kernels grading at once), and a finished cell would then be graded as one that ignored its
    # interrupt. Only a cell that does ignore it waits the whole time.
    iopub_timeout = Integer(15, help="Seconds to wait for a cell's last output after its reply.").tag(config=True)
    # Only this class decides what is skipped; a learner's tag must not skip a cell.
    skip_cells_with_tag = Unicode("autograde-internal-skip")
    error_on_timeout = Dict()
    _output_chars = 0

    @default("error_on_timeout")
    def _timeout_error(self):
        message = f"the cell ran longer than the {self.timeout} s limit (an endless loop?) and was interrupted"
        return {"ename": "CellTimeoutError", "evalue": message, "traceback": [f"CellTimeoutError: {message}"]}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        unavailable = sandbox_unavailable(self.bubblewrap)
        if unavailable and not self.allow_unsandboxed:
            raise SandboxUnavailable(f"{unavailable}; grading kernels run in bubblewrap (set "
                                     "GuardedExecute.allow_unsandboxed to grade with the in-kernel guards alone)")
        self._sandboxed = unavailable is None
        plan = GradingPlan.for_submission(nb, _source_notebook(self, resources))
        plan.scan(nb)
        self._plan, self._guard = plan, self._guard_settings(resources)
        pristine = copy.deepcopy(nb)
        for _ in range(len(nb.cells) + 1):
            attempt = copy.deepcopy(pristine)
            self._running = None
            try:
                return super().preprocess(attempt, resources, km)
            except (DeadKernelError, CellTimeoutError) as error:
                index = self._running
                if index is None or index in plan.skip:
                    raise
                why = ("did not stop when interrupted at the time limit" if isinstance(error, CellTimeoutError)
                       else "made the kernel die (os._exit, a crash or running out of memory)")
                self.log.warning("Cell %d %s; grading again without it", index, why)
                plan.exclude(index, f"{plan.describe(index)} {why}; the other exercises were graded without it")
            finally:
                self._kill_kernel_group()
        raise RuntimeError("grading kept failing; giving up")  # every attempt excludes a new cell: unreachable

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        skipped = self._plan.skip.get(index)
        if skipped is not None:
            ename, evalue = skipped
            cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                                   traceback=[f"{ename}: {evalue}"])]
            cell.execution_count = None
            return cell, resources
        self._running, self._output_chars = index, 0
        cell, resources = super().preprocess_cell(cell, resources, index)
        self._running = None
        if self._output_chars > self.max_output_chars:
            cell.outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"[autograde: output beyond {self.max_output_chars:,} characters "
                                              "was dropped]\n"))
        timed_out = [out for out in cell.outputs if out.get("output_type") == "error"
                     and out.get("ename") == "CellTimeoutError"]
        if timed_out:  # first, before the KeyboardInterrupt traceback that shows where the loop was
            cell.outputs = timed_out[:1] + [out for out in cell.outputs if out is not timed_out[0]]
        if timed_out and index in self._plan.tests.get(self._plan.exercise_of.get(index), []):
            self._plan.skip.setdefault(index, (timed_out[0].ename, timed_out[0].evalue))  # not again on a rerun
            self._plan.skip_rest_of_exercise(
                index, "not run: an earlier test of this exercise timed out (the same code would likely hang)")
        return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        """Keep errors and results; drop stream and display output beyond max_output_chars (memory)."""
        if msg["msg_type"] in ("stream", "display_data", "update_display_data"):
            content = msg["content"]
            data = content.get("data", {}).values()
            self._output_chars += len(content.get("text", "")) + sum(len(str(value)) for value in data)
            if self._output_chars > self.max_output_chars:
                return None
        return super().output(outs, msg, display_id, cell_index)

    # ---- the kernel: sandboxed, scrubbed environment, guard installed before any cell, process group killed ----

    def create_kernel_manager(self):
        manager = super().create_kernel_manager()
        # Unix sockets in a private folder instead of TCP ports: no other user of the machine can reach the
        # grading kernel (and the kernel does not warn about unencrypted TCP on stderr); in the sandbox, which
        # has no network, they are the only way to talk to the kernel. The connection file goes there too; the
        # folder is removed when grading ends (_kill_kernel_group), or by a later grader if this one is killed.
        if os.name == "posix":
            self._socket_dir = socket_folder()
            manager.transport = "ipc"
            manager.ip = os.path.join(self._socket_dir, "kernel")
            manager.connection_file = os.path.join(self._socket_dir, "kernel.json")
        if self._sandboxed:
            manager.sandbox = functools.partial(
                bubblewrap.command, readable=kernel_readable(_coursedir(self).root),
                writable=[self._guard["allowed"][0], self._socket_dir], hidden=self._guard["protected"],
                executable=self.bubblewrap)
            # A SIGINT to the kernel's process group would reach bubblewrap too and end the sandbox: ask the
            # kernel to interrupt itself instead (ipykernel's interrupt_request).
            manager.kernel_spec.interrupt_mode = "message"
        return manager

    async def async_start_new_kernel(self, **kwargs):
        kwargs["env"] = self._kernel_environment()
        if os.name == "posix":  # the kernel ends with this process, however it ends (see kernel_launcher.py)
            self._close_lifeline()  # a previous kernel's, if its clean-up did not run
            read_end, self._lifeline = kernel_launcher.open_lifeline()
            kwargs["env"][kernel_launcher.LIFELINE_VARIABLE] = str(read_end)
            kwargs["pass_fds"] = (read_end,)  # jupyter_client hands it to Popen
        try:
            await super().async_start_new_kernel(**kwargs)
        finally:
            if os.name == "posix":
                os.close(read_end)  # the kernel has its own copy
        self._kernel_pgid = getattr(self.km.provisioner, "pgid", None)

    start_new_kernel = run_sync(async_start_new_kernel)

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        code = f"import autograde.kernel_guard\nautograde.kernel_guard.install({self._guard!r})\ndel autograde"
        msg_id = client.execute(code, silent=True, store_history=False)
        # Not the per-cell timeout: importing torch on a busy machine may take longer than a cell may.
        limit = max(self.startup_timeout, 120)
        deadline = time.monotonic() + limit
        while True:
            try:
                reply = await ensure_async(client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic())))
            except queue.Empty:
                raise RuntimeError(f"the grading kernel was not ready after {limit} s "
                                   "(installing its guard, which imports torch: is the machine very busy?)") from None
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content.get("status") != "ok":
            raise RuntimeError(f"the grading kernel could not be prepared: {content.get('ename')}: "
                               f"{content.get('evalue')}")
        return client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _kernel_environment(self) -> dict:
        coursedir = _coursedir(self)
        env = {name: value for name, value in os.environ.items() if not SECRET_NAMES.search(name)}
        env.update(
            PYTHONPATH=kernel_pythonpath(coursedir.root),
            CUDA_VISIBLE_DEVICES="",  # grading runs on the CPU, the same for every learner
            TQDM_DISABLE="1",  # progress bars write to stderr, which would cost a test cell its points
            PYTHONWARNINGS="ignore",
            NBGRADER_EXECUTION="autograde",
        )
        return env

    def _guard_settings(self, resources) -> dict:
        """For autograde.kernel_guard.install; its protected paths are also what bubblewrap hides."""
        coursedir = _coursedir(self)
        root = os.path.abspath(coursedir.root)
        protected = [
            coursedir.format_path(coursedir.source_directory, ".", "."),
            coursedir.format_path(coursedir.submitted_directory, ".", "."),
            coursedir.format_path(coursedir.autograded_directory, ".", "."),
            coursedir.format_path(coursedir.feedback_directory, ".", "."),
            os.path.join(root, ".git"),
            os.path.join(root, "nbgrader_config.py"),
            self.config.Exchange.get("root", "/usr/local/share/nbgrader/exchange"),
            jupyter_runtime_dir(),  # other kernels' connection files (keys to run code in them)
            f"/proc/{os.getpid()}",  # this grader's environment (the gradebook's URL) and memory
        ]
        grading = CourseSettings(config=self.config).grading_directory
        if grading:
            protected.append(grading)
        gradebook_file = batch.sqlite_file(coursedir.db_url)  # the URL may carry a query (?timeout=...)
        if gradebook_file:
            protected.append(gradebook_file)
        memory = self.memory_limit_mb
        if not memory and hasattr(os, "sysconf"):
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 // 2**20
        return {"memory_mb": memory, "file_mb": self.file_limit_mb,
                "protected": [os.path.normpath(path) for path in protected],
                "allowed": [os.path.abspath(resources.get("metadata", {}).get("path") or os.getcwd())]}

    def _close_lifeline(self):
        lifeline, self._lifeline = getattr(self, "_lifeline", None), None
        if lifeline is not None:
            os.close(lifeline)

    def _kill_kernel_group(self):
        """Kill whatever is left of the kernel's process group (the kernel and anything it started), and
        remove its sockets."""
        if getattr(self, "_socket_dir", None):
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        self._close_lifeline()
        pgid, self._kernel_pgid = getattr(self, "_kernel_pgid", None), None
        if pgid and hasattr(os, "killpg") and pgid != os.getpgrp():
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

