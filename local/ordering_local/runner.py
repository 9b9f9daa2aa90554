"""The runtime of `ordering-local serve` and `consume`, wired from template.yaml: the local stores
and the functions' environment (prepare), the two APIs (server.py) in execution environments
(environments.py), Lambda's MSK event source mappings (mapping.py) on a broker kept alive and
its topics kept (keep_broker), and EventBridge's schedules (scheduler.py)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ordering_local import embedded
from ordering_local.scheduler import start_schedules
from ordering_local.template import Function, cors, load

FRONTEND_ORIGIN = "http://localhost:3000"


def prepare(root: Path) -> list[Function]:
    """Point this process at the local stores, with each function's template environment,
    and bring the schema up to date."""
    found = embedded.services(root)
    functions = load(root)
    for function in functions:
        for name, value in function.environment.items():
            os.environ.setdefault(name, value)
    os.environ["DATABASE_URL"] = found.database_url
    os.environ["REDIS_URL"] = found.redis_url
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = found.kafka_bootstrap_servers
    os.environ["KAFKA_AUTH"] = "none"  # MSK's IAM is AWS's; a local broker takes plain connections
    os.environ["JWT_SECRET"] = embedded.jwt_secret(root)
    os.environ.pop("JWT_SECRET_ARN", None)
    os.environ["REDACTION_SECRET"] = embedded.redaction_secret(root)
    os.environ.pop("REDACTION_SECRET_ARN", None)
    os.environ.pop("DATABASE_SECRET_ARN", None)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    # the platform's web frontend is served from there; a browser reads nothing without it
    os.environ.setdefault("CORS_ALLOW_ORIGIN", FRONTEND_ORIGIN)
    migrate_database(found.database_url)
    return functions


def migrate_database(database_url: str) -> list[str]:
    import psycopg

    from ordering.store.migrate import migrate

    with psycopg.connect(database_url, autocommit=True) as connection:
        return migrate(connection)


def keep_broker(root: Path, pollers: list[Any], topics: list[str]) -> None:
    """Every 2 s: the embedded broker started again should it have stopped, and, whoever started
    it again (this runner, another command, a test), the topics it forgot recreated with their
    partitions and the mappings reconnected to read them from the start (it keeps nothing)."""
    from ordering_local.kafka import ensure_topics

    log = logging.getLogger("local-runner")
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    while embedded.state_folder(root).is_dir():  # a checkout removed takes its broker with it, for good
        time.sleep(2)
        try:
            if not embedded.broker_answers(bootstrap):
                log.warning("the embedded Kafka broker stopped; starting it again")
                restarted = embedded.start_broker_again(root)
                if restarted != bootstrap:
                    log.error("the broker could only start at %s (its port was taken): restart the runner", restarted)
                    return
            recreated = ensure_topics(bootstrap, topics)
        except Exception:
            log.exception("the embedded Kafka broker could not be reached or started again; retrying")
            continue
        if recreated:
            log.warning("the Kafka broker had forgotten %d topics (it restarted); recreated them", len(recreated))
            for poller in pollers:
                poller.reconnect.set()


def start_mappings(functions: list[Function], environments: Any, root: Path) -> list[Any]:
    """A poller per MSK event of the template, each started and at its position before returning."""
    from ordering.config import settings
    from ordering.published.events import MODELS
    from ordering_local.kafka import ensure_topics
    from ordering_local.mapping import Poller

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    pollers = [
        Poller(mapping, function, bootstrap, environments.invoke, embedded.state_folder(root))
        for function in functions
        for mapping in function.mappings
    ]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        if not poller.ready.wait(60):
            raise RuntimeError(f"mapping {poller.mapping.name} could not reach the broker at {bootstrap}")
    # the topics the outbox relay publishes to (the platform creates them on AWS; Tansu creates
    # no topic by itself)
    published = [settings().topic(topic) for topic in MODELS]
    ensure_topics(bootstrap, published)
    if bootstrap == embedded.embedded_broker(root):  # not someone else's to keep
        every_topic = [*published, *(topic for poller in pollers for topic in poller.mapping.topics)]
        threading.Thread(
            target=keep_broker, args=(root, pollers, every_topic), daemon=True, name="broker-keeper"
        ).start()
    return pollers


def _mappings_table(pollers: list[Any]) -> str:
    lines = [
        f"  {', '.join(poller.mapping.topics):22} → {poller.mapping.function} (group {poller.mapping.consumer_group},"
        f" batches of {poller.mapping.batch_size} within {poller.mapping.batching_window_s:g} s,"
        f" {poller.mapping.maximum_retry_attempts} retries)"
        for poller in pollers
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def kafka_side(functions: list[Function], environments: Any, root: Path) -> Iterator[str]:
    """The event source mappings and the scheduled functions (the outbox relay among them),
    running until the block ends; what they are, to print."""
    stopped = threading.Event()
    pollers = start_mappings(functions, environments, root)
    scheduled, schedules = start_schedules(functions, stopped)
    try:
        yield (
            f"Kafka at {os.environ['KAFKA_BOOTSTRAP_SERVERS']}, its topics consumed as the template's MSK event"
            f" source mappings:\n{_mappings_table(pollers)}\n"
            "Scheduled, as EventBridge Scheduler would (the first run now):\n" + "\n".join(schedules)
        )
    finally:
        stopped.set()
        for poller in pollers:
            poller.stop.set()
        scheduled.close()


def serve(root: Path, *, port: int, internal_port: int, host: str, environments: int, no_kafka: bool) -> int:
    """`ordering-local serve`: the public and the internal API, each on its port, and (unless
    `no_kafka`) the MSK mappings and the schedules, until interrupted."""
    from ordering_local.docs import documents
    from ordering_local.environments import Environments
    from ordering_local.server import INTERNAL_API, PUBLIC_API, make_server, routes_table

    functions = prepare(root)
    # `kill` (SIGTERM) stops the server as Ctrl-C does, so that it stops its environments too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as running:
        pool = running.enter_context(Environments(functions, environments))
        pool.start_all()
        if no_kafka:
            kafka = "Kafka: not consumed, no scheduled function run (--no-kafka; `ordering-local consume` does both)"
        else:
            # the consumers' execution environments apart from the API's, as separate functions are
            consumers = running.enter_context(Environments([f for f in functions if f.mappings], 2))
            kafka = running.enter_context(kafka_side(functions, consumers, root))
        origin = os.environ["CORS_ALLOW_ORIGIN"]
        preflight = {"Access-Control-Allow-Origin": origin, **cors(root)}
        public = make_server(functions, PUBLIC_API, port, pool, cors=preflight, host=host, documents=documents(root))
        internal = make_server(functions, INTERNAL_API, internal_port, pool, host=host)
        for server in (public, internal):
            running.callback(server.server_close)
        threading.Thread(target=internal.serve_forever, daemon=True, name="internal-api").start()
        running.callback(internal.shutdown)
        print(
            f"Ordering public API on http://{host}:{port} ({environments} execution environments),"
            f" browsers allowed from {origin}\n"
            f"{routes_table(functions, PUBLIC_API)}\n"
            f"  the OpenAPI document: http://{host}:{port}/openapi.json, Swagger UI: /docs\n"
            f"Ordering internal API on http://{host}:{internal_port}: the platform's services (Fulfillment,"
            " Waitlist), no identity needed, as AWS serves it privately to the platform's VPC\n"
            f"{routes_table(functions, INTERNAL_API)}\n"
            f"{prices_line()}\n"
            f"{kafka}",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            public.serve_forever()
    return 0


def prices_line() -> str:
    catalog = os.environ.get("CATALOG_URL", "").strip()
    if catalog:
        return (
            f"Prices: verified against the Catalog at {catalog} (CatalogSyncFunction keeps a copy, refreshed on"
            " its schedule and once on a miss)"
        )
    return (
        "Prices: NOT verified. CATALOG_URL is not set, so the price a client sends stands; set it to the"
        " platform's Catalog (README: Prices)"
    )


def consume(root: Path, *, environments: int) -> int:
    """`ordering-local consume`: the MSK mappings and the schedules, without the API."""
    from ordering_local.environments import Environments

    functions = prepare(root)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with (
        Environments(functions, environments) as pool,
        kafka_side(functions, pool, root) as kafka,
    ):
        pool.start_all()
        print(f"{kafka}\n({environments} execution environments for the mappings)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
