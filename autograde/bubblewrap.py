"""The operating system's sandbox for grading kernels, with bubblewrap (Linux; Debian's `bubblewrap` package).

A grading kernel runs as `bwrap [what it sees] -- python -m ipykernel_launcher -f kernel.json` and sees:
- the system (/usr and the libraries, a few files of /etc) and Python (the virtual environment, the base
  installation it was made from), read-only;
- the course's `utils` and `autograde` packages and its datasets (data folder and cache), read-only;
- the submission's own folder, writable, as its working directory;
- a private, empty /tmp and home folder, writable and gone with the kernel;
- the folder holding its connection file and the Unix sockets it talks to the grader through
  (jupyter_client's `ipc` transport: there is no network to talk over).
Nothing else exists inside: not the course's solutions/, not the grading folder (gradebook, other
submissions, feedback), not the grader's home, not other users' files. Where something to hide lies inside
a folder the kernel does see, an empty tmpfs covers it. The kernel has its own network namespace (no
network at all, not even the machine's loopback), its own PID namespace (it sees no other process) and
dies with its grader.

Two consequences for the kernel command: its parent (bubblewrap's init, PID 1 inside) is not the process
that started it, so JPY_PARENT_PID, which would make ipykernel watch for its parent and shut down, is set to
1 (ipykernel never watches PID 1); and interrupts go as messages, because SIGINT to the kernel's process
group would reach bubblewrap too, which would end the sandbox.
"""

import functools
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

# System folders the kernel needs, read-only (symbolic links such as /lib -> usr/lib are recreated).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Files of /etc that libraries read (the dynamic linker, user names, time zone, fonts); the rest of /etc
# (passwords, the grader's configuration) stays out.
ETC_FILES = ("alternatives", "fonts", "group", "hosts", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
             "nsswitch.conf", "passwd")
INSTALL_HINT = "Debian/Ubuntu: sudo apt-get install bubblewrap"


@functools.cache
def unavailable_reason(executable: str = "bwrap") -> str | None:
    """None when bubblewrap can sandbox a kernel on this machine, else one line saying why it cannot."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap runs on Linux only, not on {sys.platform}"
    found = shutil.which(executable)
    if found is None:
        return f"bubblewrap ({executable}) is not installed ({INSTALL_HINT})"
    # A container may forbid the namespaces bubblewrap needs: try them once.
    probe = [found, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all", "--die-with-parent",
             "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap ({found}) could not be started: {error}"
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap ({found}) cannot create a sandbox here (user namespaces off?): {said}"
    return None


def python_folders(kernel_python: str) -> list[str]:
    """Where the kernel's Python and its packages live: the environment and the installation it comes from."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        candidates.append(site.getusersitepackages())
    for python in (kernel_python, os.path.realpath(kernel_python)):  # a venv's python links to the base one
        candidates.append(str(Path(python).parent.parent))
    return [path for path in candidates if os.path.isdir(path)]


def command(kernel_python: str, readable: list[str], writable: list[str], hidden: list[str],
            executable: str = "bwrap") -> list[str]:
    """The bubblewrap command line to put in front of the kernel's command.

    kernel_python: the kernel's Python executable; readable: folders to show read-only besides the system and
    Python (the course's packages and data); writable: folders to show writable (the submission's folder and
    the one with the kernel's sockets; the first one is the working directory); hidden: folders and files to
    cover where they lie inside the others."""
    args = [shutil.which(executable) or executable, "--unshare-all", "--die-with-parent", "--dev", "/dev",
            "--proc", "/proc"]
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # Private writable places first: the folders bound below may lie inside them (a venv in the home folder).
    args += ["--tmpfs", "/tmp"]
    home = os.path.expanduser("~")
    if os.path.isdir(home) and os.path.realpath(home) != "/":
        args += ["--tmpfs", home]
    shown = [*dict.fromkeys(os.path.realpath(path) for path in python_folders(kernel_python) + readable)]
    for path in shown:
        args += ["--ro-bind", path, path]
    writable = [os.path.realpath(path) for path in writable]
    for path in writable:
        args += ["--bind", path, path]
    for path in (os.path.realpath(path) for path in hidden):
        if os.path.exists(path) and any(_inside(path, folder) for folder in shown + writable):
            args += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
    # The folders made above to hold the mounts stay read-only: nothing outside /tmp and home is writable.
    args += ["--remount-ro", "/", "--chdir", writable[0], "--setenv", "JPY_PARENT_PID", "1", "--"]
    return args


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
