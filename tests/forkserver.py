"""Feature runs forked from a warm interpreter, so that the suite pays pytest's start-up once per worker.

The suite runs ``python -m pytest features/...`` a few hundred times. A fresh interpreter spends
about a second of CPU importing pytest, its plugins, pydantic and the procedures before it
collects anything: minutes of the suite on two cores. The fork server imports those once and
forks a child per run that is what ``python -m pytest ARGS`` would be: its own working folder,
environment, standard streams and exit code, and a PID of its own that a test may signal.

The server starts up as a run would, up to collection, and forgets that start but keeps the
modules; the modules pytest rewrites for assertions (its plugins, conftest, the step modules)
were imported through its rewriting hook, exactly as in a fresh start.

    python -m tests.forkserver SOCKET      serve until standard input closes (the worker is gone)
"""

from __future__ import annotations

import gc
import json
import locale
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, NoReturn

PROJECT = Path(__file__).resolve().parents[1]


def warm_up() -> None:
    """Start up as a run does, up to its collection: pytest, its plugins, conftest, the step modules and what
    they import. Nothing more: a module imported here that a fresh run imports later (testinfra, say) would
    make pytest warn that it could not rewrite it. Modules pytest rewrites went through its own hook."""
    from _pytest.assertion.rewrite import AssertionRewritingHook
    from _pytest.config import _prepareconfig  # pytest's own start-up (private, hence only in the tests)

    _prepareconfig(["-p", "no:xdist", "--capture=no", "--collect-only", "features"])
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, AssertionRewritingHook)]


def serve(path: str) -> None:
    warm_up()
    gc.freeze()  # what the start-up built stays: a run's collections (pytest gc-collects at its end) skip it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(8)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # each run's waiter is reaped by the kernel
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready:
            return  # standard input closed: the worker that started us is gone
        conn, _ = listener.accept()
        sys.stdout.flush()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            wait_for_run(conn)
        conn.close()


def wait_for_run(conn: socket.socket) -> NoReturn:
    """The waiter: forks the run, tells the client its PID, then its exit code."""
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
    request = json.loads(message)
    pid = os.fork()
    if pid == 0:
        conn.close()
        run_pytest(request, fds)
    for fd in fds:
        os.close(fd)
    conn.send(str(pid).encode())
    _, status = os.waitpid(pid, 0)
    conn.send(str(os.waitstatus_to_exitcode(status)).encode())
    os._exit(0)


def run_pytest(request: dict, fds: list[int]) -> NoReturn:
    """Become ``python -m pytest ARGS`` in the request's folder and environment, on the client's files."""
    import pytest

    devnull = os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((devnull, 0), (fds[0], 1), (fds[1], 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [str(Path(pytest.__file__).with_name("__main__.py")), *request["args"]]
    code = pytest.main()
    sys.stdout.flush()
    sys.exit(code)  # unwinds to the interpreter's own exit: atexit, threads, flushing


class ForkedRun:
    """A run the fork server started: the part of ``subprocess.Popen`` the tests use (its output is
    standard output, then standard error, each read when the run has ended)."""

    def __init__(self, conn: socket.socket, args: list[str], out: IO[bytes], err: IO[bytes]) -> None:
        self.conn, self.args, self.out, self.err = conn, args, out, err
        self.pid = int(conn.recv(64))
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.conn.settimeout(timeout)
            try:
                self.returncode = int(self.conn.recv(64))
            except (TimeoutError, BlockingIOError):  # BlockingIOError: not ended yet, when polled (timeout 0)
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
            self.conn.close()
        return self.returncode

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        self.wait(timeout)
        with self.out, self.err:
            return text(self.out) + text(self.err), None

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # as Popen: never a PID that may already be another process's
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Forkserver:
    """One per worker process, started on first use; ``start`` is ``subprocess.Popen([python, -m, pytest, ...])``."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="forkserver-")
        self.path = f"{self.folder}/socket"
        self.process = subprocess.Popen([sys.executable, "-m", "tests.forkserver", self.path], cwd=PROJECT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the fork server did not start (exit {self.process.wait()})")

    def start(self, args: list[str], cwd: Path, env: dict[str, str]) -> ForkedRun:
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115 - communicate() closes them
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(self.path)
        socket.send_fds(conn, [json.dumps({"args": args, "cwd": str(cwd), "env": env}).encode()],
                        [out.fileno(), err.fileno()])
        return ForkedRun(conn, args, out, err)

    def run(self, args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
        """Exit code and output of ``pytest ARGS``, as ``subprocess.run``: the run does not outlive a timeout."""
        run = self.start(args, cwd, env)
        try:
            output, _ = run.communicate(timeout)
        except BaseException:
            run.kill()
            raise
        return run.wait(), output

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)
        Path(self.path).unlink(missing_ok=True)
        os.rmdir(self.folder)


def text(file: IO[bytes]) -> str:
    """A run's output decoded as ``subprocess.run(text=True)`` decodes it (universal newlines)."""
    file.seek(0)
    return file.read().decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


if __name__ == "__main__":
    serve(sys.argv[1])
