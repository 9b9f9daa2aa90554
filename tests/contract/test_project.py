"""What a reviewer checks by hand: the template's wiring, and the layer's dependencies."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import tomllib

from ordering_local.invoke import invoke
from ordering_local.template import load
from tests.support import ROOT, Service


def test_every_function_has_its_handler_file() -> None:
    for function in load(ROOT):
        assert function.module_path.is_file(), function.name
        assert function.code_uri.parent == ROOT / "functions", function.name


def test_every_route_of_the_contract_is_served() -> None:
    routes = {(route.method, route.path) for function in load(ROOT) for route in function.routes}
    assert {
        ("POST", "/cart/add"),
        ("POST", "/orders/checkout"),
        ("GET", "/orders/{orderId}"),
        ("GET", "/Orders/{orderId}"),
        ("POST", "/orders/waitlist"),
        ("PATCH", "/orders/{orderId}/cancel"),
    } <= routes


def test_every_consumed_topic_has_a_consumer() -> None:
    topics = [topic for function in load(ROOT) for topic in function.topics]
    assert sorted(topics) == sorted(
        ["reservation-created", "reservation-expired", "payment-succeeded", "payment-failed", "ticket-issued"]
    )


def test_the_layer_requirements_match_the_project_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "layers/ordering/requirements.txt").read_text().splitlines()
    pinned = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(pinned) == sorted(declared)


def test_importing_a_function_does_no_io_and_skips_boto3() -> None:
    # Given no database, no Redis and no configuration at all
    code = (
        "import importlib.util, sys, socket\n"
        "def refuse(*a, **k): raise AssertionError('network at import time')\n"
        "socket.socket.connect = refuse\n"
        "import pathlib\n"
        "for path in sorted(pathlib.Path('functions').glob('*/app.py')):\n"
        "    spec = importlib.util.spec_from_file_location(path.parent.name, path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in sys.modules if re_boto(m)))\n"
    ).replace("re_boto(m)", "m.split('.')[0] == 'boto3'")
    # When every function module is imported
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={"PATH": ""}, check=False
    )
    # Then it imports without touching the network and without boto3 (Powertools' own package
    # init imports botocore's top module, a fraction of a millisecond; boto3 is the cost)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert not re.search(r"Traceback", done.stderr)


def test_the_sample_events_work_as_they_are(service: Service) -> None:
    # Given the sample reservation consumed from its MSK event
    msk = json.loads((ROOT / "events/msk/reservation-created.json").read_text())
    assert invoke(service.consumer("reservation-created"), msk) == {"batchItemFailures": []}
    functions = {function.name: function for function in service.functions}

    # When the sample API events are invoked
    added = invoke(functions["AddToCartFunction"], json.loads((ROOT / "events/api/add-to-cart.json").read_text()))
    checkout = invoke(functions["CheckoutFunction"], json.loads((ROOT / "events/api/checkout.json").read_text()))
    read = invoke(functions["GetOrderFunction"], json.loads((ROOT / "events/api/get-order.json").read_text()))
    # the Waitlist service's two calls, on the internal API
    waitlist = invoke(
        functions["PlaceWaitlistOrderFunction"], json.loads((ROOT / "events/api/place-waitlist-order.json").read_text())
    )
    cancel = invoke(functions["CancelOrderFunction"], json.loads((ROOT / "events/api/cancel-order.json").read_text()))

    # Then the seat is in the guest's cart, and the placeholder order id is simply not found
    assert added["statusCode"] == 200, added["body"]
    assert json.loads(added["body"])["items"][0]["seatNumber"] == "VIP-A-12"
    assert (checkout["statusCode"], read["statusCode"], cancel["statusCode"]) == (404, 404, 404)
    assert waitlist["statusCode"] == 201, waitlist["body"]

    # and every other topic's sample is consumed without a retry (the placeholder order id
    # makes the payment and ticket samples dead letters; the expiry cancels the cart)
    for topic in ("payment-succeeded", "payment-failed", "ticket-issued", "reservation-expired"):
        sample = json.loads((ROOT / f"events/msk/{topic}.json").read_text())
        assert invoke(service.consumer(topic), sample) == {"batchItemFailures": []}, topic
        payload = json.loads((ROOT / f"events/payloads/{topic}.json").read_text())
        assert json.loads(base64.b64decode(next(iter(sample["records"].values()))[0]["value"])) == payload
