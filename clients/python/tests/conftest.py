"""Live `hydrogen dev` servers for the tests, and a TCP proxy that can drop
every connection (to prove watch resume)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CLIENT_DIR = HERE.parent
REPO = CLIENT_DIR.parent.parent
EXAMPLE = REPO / "examples" / "test-app.json"
START_DEADLINE = 30.0


def hydrogen_bin() -> Path:
    path = Path(os.environ.get("HYDROGEN_BIN", CLIENT_DIR / "../../target/debug/hydrogen"))
    if not path.is_absolute():
        path = (CLIENT_DIR / path).resolve()
    if not path.exists():
        pytest.fail(f"no hydrogen binary at {path}: run `cargo build` or set HYDROGEN_BIN")
    return path


class Server:
    """`hydrogen dev` on free loopback ports; `target` is `127.0.0.1:PORT`."""

    def __init__(self, token: str | None = None):
        args = [str(hydrogen_bin()), "dev", "--listen", "127.0.0.1:0", "--sim-listen", "127.0.0.1:0", "--agents", "5"]
        if token:
            args += ["--api-token", token]
        env = {k: v for k, v in os.environ.items() if k != "HYDROGEN_API_TOKEN"}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        self.target = self._wait_listening()

    def _wait_listening(self) -> str:
        found: list[str] = []
        done = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                m = re.match(r"listening on http://(127\.0\.0\.1:\d+)", line.strip())
                if m and not found:
                    found.append(m.group(1))
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        if not done.wait(START_DEADLINE) or not found:
            self.stop()
            pytest.fail("hydrogen dev did not print `listening on` in time")
        return found[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class DroppingProxy:
    """Forwards 127.0.0.1:<port> to `target`; `drop()` closes every open
    connection (the listener stays, so clients can reconnect)."""

    def __init__(self, target: str):
        host, port = target.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.target = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            up = socket.create_connection(self._upstream)
            with self._lock:
                self._conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def drop(self) -> int:
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        return len(conns)

    def close(self) -> None:
        self._listener.close()
        self.drop()


def eventually(check, what: str, deadline: float = 30.0, every: float = 0.05):
    """Polls `check()` until it returns a truthy value; fails after `deadline`."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {deadline}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def auth_server():
    s = Server(token="s3cret-token")
    yield s
    s.stop()
