"""Runs inside the grading kernel, before any notebook code: limits, the checks' snapshot, an audit hook.

This guard works from inside the kernel's own Python process, so it is no sandbox (CPython's documentation
says as much of audit hooks): code in C, whether a library's or called through one, raises no audit events,
and its file access, processes and connections pass unseen. On Linux the kernel also runs in bubblewrap
(autograde/bubblewrap.py), which the operating system enforces; this guard stays in every mode because it
tells the learner what was refused and why, and it is all there is where bubblewrap cannot run.

GuardedExecute starts every grading kernel with `autograde.kernel_guard.install(settings)`. It
- removes the submission's folder from sys.path, so that files submitted with the notebook cannot stand in
  for torch or utils;
- caps the memory the kernel may allocate and the size of files it may write, so that a memory blow-up
  raises MemoryError in its cell instead of taking the machine (or the grader) down;
- silences warnings, which would otherwise reach stderr and cost a test cell its points;
- imports utils.checks, which captures the torch and builtins functions the checks use while they are
  still the originals;
- installs an audit hook (PEP 578), which Python code cannot remove. Whoever asks, it refuses to read or
  change the course's solutions, the gradebook or other submissions through Python's file functions, and
  the events in autograde.policy.REFUSED_EVENTS (opening databases, starting processes, adding audit hooks),
  and signalling other processes. When notebook code asks, it also refuses the events in
  REFUSED_FROM_NOTEBOOK (gc's object walks, tracing, building code objects), ctypes, reading other frames,
  and rewriting the code (`f.__code__ = ...`) or class of the packages in PROTECTED_PACKAGES. Assigning a
  class attribute (torch.Tensor.__eq__ = ...) raises no audit event: the static scan and utils.checks'
  snapshot catch that.
"""

import os
import sys
import warnings

from .policy import PROTECTED_PACKAGES, REFUSED_EVENTS, REFUSED_FROM_NOTEBOOK

try:
    import resource
except ImportError:  # Windows: no resource limits there
    resource = None

# Events whose first argument (and second, for rename and link) is a path: refused inside protected folders.
_PATH_EVENTS = {"open", "os.listdir", "os.scandir", "glob.glob", "os.remove", "os.rename", "os.rmdir",
                "os.mkdir", "os.link", "os.symlink", "os.truncate", "os.chmod", "os.chown", "os.utime",
                "shutil.rmtree", "shutil.copyfile", "shutil.copytree", "shutil.move", "os.chdir"}


class GradingRefused(PermissionError):
    """Something a notebook may not do while it is graded."""


def install(settings: dict) -> None:
    """Prepare this kernel for grading. settings: memory_mb, file_mb, protected and allowed paths."""
    if resource is not None:
        _cap(resource.RLIMIT_DATA, settings.get("memory_mb", 0))
        _cap(resource.RLIMIT_FSIZE, settings.get("file_mb", 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    warnings.simplefilter("ignore")
    # Imports must come from the installed packages and the course, never from the submission's folder
    # (the kernel's working directory), where a learner could have put a fake torch/ or utils/ package.
    here = os.path.realpath(os.getcwd())
    sys.path[:] = [entry for entry in sys.path if entry and os.path.realpath(entry) != here]
    from ipykernel.compiler import get_tmp_directory

    import utils.checks  # noqa: F401  (its snapshot must be taken now, before notebook code runs)

    sys.addaudithook(_make_hook(settings.get("protected", []), settings.get("allowed", []),
                                get_tmp_directory() + os.sep))


def _cap(which, megabytes):
    """Set the soft and the hard limit (so notebook code cannot raise them again); never above the hard
    limit the kernel already has. 0: leave the limit alone."""
    if megabytes:
        _, hard = resource.getrlimit(which)
        limit = int(megabytes) * 1024 * 1024
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(which, (limit, limit))


def _make_hook(protected, allowed, cell_directory):
    """The audit hook. Everything it uses is bound here, out of reach of the notebook's globals."""
    realpath, fsdecode, getframe, sep = os.path.realpath, os.fsdecode, sys._getframe, os.sep
    protected = [realpath(path) for path in protected]
    allowed = [realpath(path) for path in allowed]
    refused, from_notebook = dict(REFUSED_EVENTS), dict(REFUSED_FROM_NOTEBOOK)
    path_events, protected_code = frozenset(_PATH_EVENTS), tuple(PROTECTED_PACKAGES)
    two_path_events = frozenset({"os.rename", "os.link", "os.symlink", "shutil.copyfile", "shutil.copytree",
                                 "shutil.move"})
    refusal = GradingRefused
    own_pid = os.getpid()
    busy = []  # re-entrancy guard: the hook's own calls raise audit events too

    def inside(path, folders):
        return any(path == folder or path.startswith(folder + sep) for folder in folders)

    def off_limits(path):
        if isinstance(path, int) or path is None:
            return False
        try:
            resolved = realpath(fsdecode(path))
        except (TypeError, ValueError):
            return False
        return inside(resolved, protected) and not inside(resolved, allowed)

    def is_cell(frame):
        return frame is not None and frame.f_code.co_filename.startswith(cell_directory)

    def triggered_by_notebook(frame):
        """Notebook code (a cell, or a function it defined) is on the stack, not behind an import (libraries
        legitimately set attributes on their own classes while they load)."""
        while frame is not None:
            if is_cell(frame):
                return True
            if frame.f_code.co_filename.startswith("<frozen importlib"):
                return False
            frame = frame.f_back
        return False

    def called_directly(frame):
        """The triggering frame is notebook code, or the inspect module called straight from it."""
        if is_cell(frame):
            return True
        return frame is not None and frame.f_globals.get("__name__") == "inspect" and is_cell(frame.f_back)

    def protected_object(obj):
        if isinstance(obj, type):
            module = type.__dict__["__module__"].__get__(obj)
        elif type(obj).__name__ in ("function", "builtin_function_or_method"):
            module = getattr(obj, "__module__", None)
        elif type(obj).__name__ == "module":
            module = obj.__name__
        else:
            return False
        return isinstance(module, str) and module.split(".")[0] in protected_code

    def hook(event, args):
        if busy:
            return
        busy.append(True)
        try:
            decide(event, args, getframe(1))  # frame 1: the Python code whose action raised the event
        except refusal:
            raise
        except Exception:
            pass  # never fail an event by accident: some C++ callers abort the process on any error
        finally:
            busy.pop()

    def decide(event, args, trigger):
        if event in refused:
            raise refusal(f"autograde: {refused[event]} is not allowed while grading")
        if event in from_notebook and triggered_by_notebook(trigger):
            raise refusal(f"autograde: {from_notebook[event]} is not allowed while grading")
        if event.startswith("ctypes.") and triggered_by_notebook(trigger):
            raise refusal("autograde: ctypes is not allowed while grading")
        if event in path_events and args:
            for path in args[:2] if event in two_path_events else args[:1]:
                if off_limits(path):
                    raise refusal(f"autograde: {fsdecode(path)} is off limits while grading "
                                  "(solutions, gradebook, other submissions)")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill") and args and args[0] != own_pid:
            raise refusal("autograde: signalling other processes is not allowed while grading")
        elif event in ("object.__setattr__", "object.__delattr__") and args and protected_object(args[0]):
            if triggered_by_notebook(trigger):
                raise refusal(f"autograde: changing {getattr(args[0], '__name__', '?')}.{args[1]} is not "
                              "allowed while grading (monkeypatching)")
        elif event == "sys._getframe" and called_directly(trigger):
            raise refusal("autograde: reading other frames is not allowed while grading")
        elif (event == "object.__getattr__" and len(args) > 1
              and args[1] in ("tb_frame", "gi_frame", "cr_frame", "ag_frame") and called_directly(trigger)):
            raise refusal("autograde: reading other frames is not allowed while grading")

    return hook
