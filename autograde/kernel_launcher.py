"""How a grading kernel starts: ipykernel's own start, with two precautions.

1. Nothing is imported from the kernel's working directory, the learner's submission folder: a file there
   named ipykernel_launcher.py, or a folder named autograde/, would otherwise run before any guard (`python -m
   NAME` looks in the working directory first). So the kernel's command is `python -c CODE`, whose first
   statement drops the working directory from sys.path.
2. The kernel ends when the grader that started it dies, even by SIGKILL. The grader keeps the write end of a
   pipe (the lifeline) and the kernel gets the read end; a thread of the kernel waits on it, and when the
   grader is gone the read returns nothing and the kernel exits. bubblewrap's --die-with-parent alone leaves
   a window of a few milliseconds at start-up (more on a busy machine) in which a killed grader leaves the
   sandboxed kernel running; such an orphan holds the grader's output open and so hangs whoever reads it.
"""

import os
import sys
import threading

LIFELINE_VARIABLE = "AUTOGRADE_LIFELINE_FD"

# The kernel's command: `python -c CODE -f CONNECTION_FILE ...` (the arguments go to ipykernel).
LAUNCH_CODE = "import sys; del sys.path[0]; from autograde.kernel_launcher import main; main()"


def kernel_command(command: list[str]) -> list[str]:
    """ipykernel's usual command (python -m ipykernel_launcher ARGS) as this module's: python -c CODE ARGS."""
    if command[1:3] != ["-m", "ipykernel_launcher"]:
        return command  # another kernel's command: left as it is
    return [command[0], "-c", LAUNCH_CODE, *command[3:]]


def open_lifeline() -> tuple[int, int]:
    """(read end, write end) of a new lifeline. Neither is inherited by default: the kernel's Popen passes the
    read end (pass_fds) and sets LIFELINE_VARIABLE to its number; the write end stays with the grader alone."""
    return os.pipe()


def _exit_when_grader_dies(read_end: int) -> None:
    try:
        while os.read(read_end, 1):  # the grader never writes: this returns b"" once its end is closed
            pass
    except OSError:
        pass
    os._exit(1)


def main() -> None:
    lifeline = os.environ.pop(LIFELINE_VARIABLE, None)
    if lifeline is not None:
        read_end = int(lifeline)
        os.fstat(read_end)  # fails loudly at start if the grader did not pass the pipe (a bug of the grader)
        threading.Thread(target=_exit_when_grader_dies, args=(read_end,), daemon=True,
                         name="autograde-lifeline").start()  # fmt: skip
    sys.argv[0] = "ipykernel_launcher"
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
