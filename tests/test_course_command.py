"""The README's first command: ./course opens JupyterLab on the course, with nbgrader's extension."""

import os
import signal
import subprocess
import time
import urllib.request

from utils.settings import REPO_ROOT


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_course_command_starts_jupyterlab_with_nbgrader(tmp_path, free_port):
    port, token = free_port(), "course-test-token"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path))
    server = subprocess.Popen(
        [str(REPO_ROOT / "course"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"],  # a port taken meanwhile: an error
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()[-2000:]
                assert time.monotonic() < deadline, "JupyterLab did not answer within 120 s"
                time.sleep(0.5)
        lab_page = _get(f"{base}/lab?token={token}")
        assert "@jupyter/nbgrader" in lab_page  # nbgrader's JupyterLab extension is loaded
        # The server's root is the repository (so nbgrader finds the course's configuration there),
        # whatever directory ./course was started from.
        listing = _get(f"{base}/api/contents?token={token}")
        assert '"name": "lessons"' in listing.replace('":"', '": "') and "pyproject.toml" in listing
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
