"""`ordering-local`: run the Ordering service on this machine, with no AWS and no Docker.

serve    serve the public API on http://127.0.0.1:5003 and the internal one on :5004 from
         template.yaml's routes, and consume the Kafka topics of its MSK events as Lambda's
         event source mappings do
consume  only consume the Kafka topics (serve --no-kafka: only the API)
publish  produce Kafka payloads to a topic, and wait until its mapping has handled them
events   print the order events the outbox relay published (--follow: as they come)
invoke   invoke one function with an event file (like `sam local invoke -e`)
token    print a JWT the local configuration accepts
migrate  apply the SQL migrations
env      print DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP_SERVERS and JWT_SECRET as shell exports
alarms   regenerate the functions' alarms in template.yaml from their one definition
openapi  regenerate openapi.json from the code
asyncapi regenerate asyncapi.yaml from the consumers' models
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ordering_local import embedded
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


def mint_token(
    secret: str, subject: str, *, email: str | None = None, role: str | None = None, hours: float = 2.0
) -> str:
    import jwt

    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": os.environ.get("JWT_ISSUER", "SpecKit.Identity"),
        "aud": os.environ.get("JWT_AUDIENCE", "SpecKit.Services"),
        "iat": now,
        "exp": now + dt.timedelta(hours=hours),
    }
    if email:
        claims["email"] = email
    if role:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm="HS256")


def _keep_broker(root: Path, pollers: list[Any], topics: list[str]) -> None:
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


def _start_mappings(functions: list[Function], environments: Any, root: Path) -> list[Any]:
    """A poller per MSK event of the template, each started and at its position before returning."""
    from ordering.config import settings
    from ordering.events.published import MODELS
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
            target=_keep_broker, args=(root, pollers, every_topic), daemon=True, name="broker-keeper"
        ).start()
    return pollers


def _start_schedules(functions: list[Function], stopped: threading.Event) -> tuple[Any, list[str]]:
    """The template's scheduled functions (the outbox relay, the pruning), each invoked at once
    and then at its rate, in execution environments of their own, as EventBridge Scheduler would."""
    from ordering_local.environments import Environments, FunctionError

    scheduled = [(function, period) for function in functions for period in function.schedules]
    environments = Environments([function for function, _ in scheduled], max(1, len(scheduled)))
    log = logging.getLogger("local-runner")

    def run(function: Function, period: float) -> None:
        next_run = time.monotonic()
        while not stopped.is_set():
            try:
                result = environments.invoke(function, {"source": "aws.scheduler", "detail-type": "Scheduled Event"})
                log.info("%s: %s", function.name, json.dumps(result, default=str))
            except FunctionError as exc:
                log.error("%s failed: %s", function.name, exc)
            except Exception:  # the schedule goes on, as EventBridge's would
                log.exception("%s could not be invoked", function.name)
            next_run += period
            stopped.wait(max(0.0, next_run - time.monotonic()))

    for function, period in scheduled:
        threading.Thread(target=run, args=(function, period), daemon=True, name=f"schedule-{function.name}").start()
    return environments, [f"  {function.name:22} every {period:g} s" for function, period in scheduled]


def _mappings_table(pollers: list[Any]) -> str:
    lines = [
        f"  {', '.join(poller.mapping.topics):22} → {poller.mapping.function} (group {poller.mapping.consumer_group},"
        f" batches of {poller.mapping.batch_size} within {poller.mapping.batching_window_s:g} s,"
        f" {poller.mapping.maximum_retry_attempts} retries)"
        for poller in pollers
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def _kafka_side(functions: list[Function], environments: Any, root: Path) -> Iterator[str]:
    """The event source mappings and the scheduled functions (the outbox relay among them),
    running until the block ends; what they are, to print."""
    stopped = threading.Event()
    pollers = _start_mappings(functions, environments, root)
    scheduled, schedules = _start_schedules(functions, stopped)
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


def _serve(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.docs import documents
    from ordering_local.environments import Environments
    from ordering_local.server import INTERNAL_API, PUBLIC_API, make_server, routes_table

    functions = prepare(root)
    # `kill` (SIGTERM) stops the server as Ctrl-C does, so that it stops its environments too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as running:
        environments = running.enter_context(Environments(functions, args.environments))
        environments.start_all()
        if args.no_kafka:
            kafka = "Kafka: not consumed, no scheduled function run (--no-kafka; `ordering-local consume` does both)"
        else:
            # the consumers' execution environments apart from the API's, as separate functions are
            consumers = running.enter_context(Environments([f for f in functions if f.mappings], 2))
            kafka = running.enter_context(_kafka_side(functions, consumers, root))
        origin = os.environ["CORS_ALLOW_ORIGIN"]
        preflight = {"Access-Control-Allow-Origin": origin, **cors(root)}
        public = make_server(
            functions, PUBLIC_API, args.port, environments, cors=preflight, host=args.host, documents=documents(root)
        )
        internal = make_server(functions, INTERNAL_API, args.internal_port, environments, host=args.host)
        for server in (public, internal):
            running.callback(server.server_close)
        threading.Thread(target=internal.serve_forever, daemon=True, name="internal-api").start()
        running.callback(internal.shutdown)
        print(
            f"Ordering public API on http://{args.host}:{args.port} ({args.environments} execution environments),"
            f" browsers allowed from {origin}\n"
            f"{routes_table(functions, PUBLIC_API)}\n"
            f"  the OpenAPI document: http://{args.host}:{args.port}/openapi.json, Swagger UI: /docs\n"
            f"Ordering internal API on http://{args.host}:{args.internal_port}: the platform's services (Fulfillment,"
            " Waitlist), no identity needed, as AWS serves it privately to the platform's VPC\n"
            f"{routes_table(functions, INTERNAL_API)}\n"
            f"{_prices_line()}\n"
            f"{kafka}",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            public.serve_forever()
    return 0


def _prices_line() -> str:
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


def _consume(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.environments import Environments

    functions = prepare(root)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with (
        Environments(functions, args.environments) as environments,
        _kafka_side(functions, environments, root) as kafka,
    ):
        environments.start_all()
        print(f"{kafka}\n({args.environments} execution environments for the mappings)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _payloads(file: str) -> list[Any]:
    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{file}: not JSON ({exc}); give a payload or an array of payloads") from None
    return document if isinstance(document, list) else [document]


def _publish(args: argparse.Namespace, root: Path) -> int:
    payloads = _payloads(args.file)
    functions = prepare(root)
    # the topic as configured here, or the platform's name of it (RESERVATION_CREATED_TOPIC may rename it)
    args.topic = next(
        (
            topic
            for function in functions
            for mapping in function.mappings
            for topic, platform_topic in mapping.platform_topics.items()
            if args.topic in (topic, platform_topic)
        ),
        args.topic,
    )
    found = [
        (function, mapping) for function in functions for mapping in function.mappings if args.topic in mapping.topics
    ]
    if not found:
        print(f"no function in template.yaml consumes topic {args.topic!r}", file=sys.stderr)
        return 2
    if args.direct:
        return _publish_direct(args, root, payloads, [function for function, _ in found])
    from ordering_local.kafka import GroupOffsets, ensure_topics, produce
    from ordering_local.mapping import handled_log

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    ensure_topics(bootstrap, [args.topic])
    logs = {mapping.consumer_group: handled_log(embedded.state_folder(root), mapping) for _, mapping in found}
    sizes = {group: path.stat().st_size if path.is_file() else 0 for group, path in logs.items()}
    platform_topic = found[0][1].platform_topics.get(args.topic, args.topic)
    landed = produce(bootstrap, args.topic, payloads, key=args.key, platform_topic=platform_topic)
    wanted: dict[tuple[str, int], int] = {}
    for record in landed:
        wanted[(record.topic, record.partition)] = max(wanted.get((record.topic, record.partition), -1), record.offset)
    deadline = time.monotonic() + args.timeout
    for function, mapping in found:
        offsets = GroupOffsets(bootstrap, mapping.consumer_group)
        while True:
            committed = offsets.read(wanted)
            if all(committed[partition] > offset for partition, offset in wanted.items()):
                offsets.close()
                break
            if time.monotonic() > deadline:
                print(
                    f"{mapping.name} has not handled the records within {args.timeout:g} s (produced at"
                    f" {', '.join(f'{t}-{p}@{o}' for (t, p), o in sorted(wanted.items()))}): is `ordering-local serve`"
                    " (or `consume`) running with this KAFKA_BOOTSTRAP_SERVERS?",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.05)
        for response in _responses(logs[mapping.consumer_group], sizes[mapping.consumer_group], landed):
            print(json.dumps({"function": function.name, "response": response}))
    return 0


def _responses(log: Path, start: int, landed: list[Any]) -> list[Any]:
    """The responses of the invocations, logged since `start`, that covered the records."""
    mine = {(f"{record.topic}-{record.partition}", record.offset) for record in landed}
    found: list[Any] = []
    with log.open() as lines:
        lines.seek(start)
        for line in lines:
            entry = json.loads(line)
            if any(
                (name, offset) in mine
                for name, (first, last) in entry["records"].items()
                for offset in range(first, last + 1)
            ):
                found.append(entry["response"])
    return found


def _publish_direct(args: argparse.Namespace, root: Path, payloads: list[Any], consumers: list[Function]) -> int:
    from ordering_local.events import Message, message_key, msk_event
    from ordering_local.invoke import invoke
    from ordering_local.offsets import next_offsets

    offsets = next_offsets(root, args.topic, len(payloads))
    event = msk_event(
        Message(args.topic, payload, key=args.key or message_key(args.topic, payload), offset=offset)
        for payload, offset in zip(payloads, offsets, strict=True)
    )
    for function in consumers:
        print(json.dumps({"function": function.name, "response": invoke(function, event)}))
    return 0


def _events(args: argparse.Namespace, root: Path) -> int:
    """The order events on the broker, from the start of each topic, a JSON line each."""
    import simplejson

    from ordering.config import settings
    from ordering.events.published import MODELS
    from ordering_local.kafka import ensure_topics, read_from_start

    prepare(root)
    topics = [settings().topic(topic) for topic in MODELS]
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    ensure_topics(bootstrap, topics)
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        for record in read_from_start(bootstrap, topics, follow=args.follow):
            print(simplejson.dumps(record, use_decimal=True), flush=True)
    return 0


def _invoke(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.invoke import invoke

    functions = {function.name: function for function in prepare(root)}
    if args.function not in functions:
        print(
            f"no function {args.function!r}; template.yaml has: {', '.join(sorted(functions))}",
            file=sys.stderr,
        )
        return 2
    event = json.loads(Path(args.event).read_text())
    print(json.dumps(invoke(functions[args.function], event), indent=2))
    return 0


def _token(args: argparse.Namespace, root: Path) -> int:
    print(mint_token(embedded.jwt_secret(root), args.sub, email=args.email, role=args.role, hours=args.hours))
    return 0


def _migrate(args: argparse.Namespace, root: Path) -> int:
    applied = migrate_database(embedded.services(root).database_url)
    print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    return 0


def _env(args: argparse.Namespace, root: Path) -> int:
    found = embedded.services(root)
    print(f"export DATABASE_URL='{found.database_url}'")
    print(f"export REDIS_URL='{found.redis_url}'")
    print(f"export KAFKA_BOOTSTRAP_SERVERS='{found.kafka_bootstrap_servers}'")
    print(f"export JWT_SECRET='{embedded.jwt_secret(root)}'")
    return 0


def _alarms(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.alarms import write

    print("template.yaml: function alarms regenerated" if write(root) else "template.yaml: function alarms up to date")
    return 0


def _openapi(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.openapi import write

    prepare(root)  # the functions' environment, as they are loaded
    print("openapi.json regenerated" if write(root) else "openapi.json up to date")
    return 0


def _asyncapi(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.asyncapi import write

    print("asyncapi.yaml regenerated" if write(root) else "asyncapi.yaml up to date")
    return 0


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="ordering-local", description=__doc__.split("\n\n")[0])
    commands = main_parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API")
    serve.add_argument("--port", type=int, default=5003, help="the public API's port")
    serve.add_argument("--internal-port", type=int, default=5004, help="the internal API's port")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 lets containers (the platform's compose) reach it, and so anyone"
        " on the network: the internal routes need no identity",
    )
    serve.add_argument(
        "--environments", type=int, default=4, help="concurrent execution environments (worker processes)"
    )
    serve.add_argument("--no-kafka", action="store_true", help="serve the API only; `consume` runs the mappings")
    serve.set_defaults(run=_serve)
    consume = commands.add_parser("consume", help="consume the Kafka topics, without the API")
    consume.add_argument(
        "--environments", type=int, default=2, help="concurrent execution environments (worker processes)"
    )
    consume.set_defaults(run=_consume)
    publish = commands.add_parser("publish", help="produce payloads to a topic and wait until they are handled")
    publish.add_argument("topic")
    publish.add_argument("file", help="a JSON payload or array of payloads; - for standard input")
    publish.add_argument("--key", help="the messages' key (default: the field the topic's producer keys by)")
    publish.add_argument(
        "--direct", action="store_true", help="no broker: invoke the consumer function with the MSK event, here"
    )
    publish.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the mapping")
    publish.set_defaults(run=_publish)
    events = commands.add_parser("events", help="print the order events published to the broker")
    events.add_argument("--follow", action="store_true", help="keep printing them as they come")
    events.set_defaults(run=_events)
    invoke = commands.add_parser("invoke", help="invoke a function with an event file")
    invoke.add_argument("function", help="the function's logical id in template.yaml")
    invoke.add_argument("-e", "--event", required=True)
    invoke.set_defaults(run=_invoke)
    token = commands.add_parser("token", help="print a JWT the local configuration accepts")
    token.add_argument("--sub", required=True)
    token.add_argument("--email")
    token.add_argument("--role")
    token.add_argument("--hours", type=float, default=2.0)
    token.set_defaults(run=_token)
    commands.add_parser("migrate", help="apply the SQL migrations").set_defaults(run=_migrate)
    commands.add_parser("env", help="print the local stores' URLs as exports").set_defaults(run=_env)
    commands.add_parser("alarms", help="regenerate the functions' alarms in template.yaml").set_defaults(run=_alarms)
    commands.add_parser("openapi", help="regenerate openapi.json from the code").set_defaults(run=_openapi)
    commands.add_parser("asyncapi", help="regenerate asyncapi.yaml from the consumers' models").set_defaults(
        run=_asyncapi
    )
    return main_parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="platformdirs")
    args = parser().parse_args(argv)
    result: int = args.run(args, embedded.project_root())
    return result


if __name__ == "__main__":
    sys.exit(main())
