"""What the local runner reads from template.yaml: routes → functions → handlers, MSK event
source mappings → consumer functions, and each function's environment.

Parameters take their defaults, or the value of the environment variable that the template's
Globals set from them (RESERVATION_CREATED_TOPIC renames that topic here as it does on AWS);
the stage is `local`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfn_flip import load_yaml


def parse(text: str) -> dict[str, Any]:
    """A CloudFormation template's YAML, its short-form tags (!Ref, !Sub, !GetAtt…) read as the
    long form (`{"Ref": …}`, `{"Fn::Sub": …}`) by cfn-flip, AWS's own reader of them."""
    document: dict[str, Any] = load_yaml(text)
    return document


def read(root: Path) -> dict[str, Any]:
    """The checkout's template.yaml."""
    return parse((root / "template.yaml").read_text())


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # as in the template: /orders/{orderId}
    pattern: re.Pattern[str]
    # the AWS::Serverless::Api serving it, and that API stage's variables (API Gateway puts them
    # in the event's stageVariables; `api: internal` marks the private internal API)
    api: str = "Api"
    stage_variables: dict[str, str] = field(default_factory=dict)

    @property
    def internal(self) -> bool:
        return self.stage_variables.get("api") == "internal"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in (method, "ANY"):
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass(frozen=True, slots=True)
class KafkaMapping:
    """One MSK event of a function: an event source mapping, with Lambda's defaults where the
    template sets nothing (AWS::Lambda::EventSourceMapping)."""

    name: str  # the event's logical id in the template
    function: str
    topics: list[str]
    consumer_group: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    batching_window_s: float = 0.5
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1  # -1: until the record succeeds
    bisect_on_function_error: bool = False
    # the platform's name of each topic (the template parameter's default), for the key its
    # producer puts on a message
    platform_topics: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    routes: list[Route] = field(default_factory=list)
    mappings: list[KafkaMapping] = field(default_factory=list)
    timeout_s: float = 3.0  # Lambda's default, when the template sets none
    # the periods of its Schedule/ScheduleV2 events, in seconds (rate expressions only)
    schedules: list[float] = field(default_factory=list)

    @property
    def topics(self) -> list[str]:
        return [topic for mapping in self.mappings for topic in mapping.topics]

    @property
    def module_path(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


def _route(method: str, path: str, api: str = "Api", stage_variables: dict[str, str] | None = None) -> Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return Route(method.upper(), path, re.compile(regex), api, dict(stage_variables or {}))


LOCAL_STAGE = "local"


def _plain_values(variables: dict[str, Any] | None) -> dict[str, str]:
    """Environment values the runner can use as they are; intrinsics are resolved locally."""
    return {key: str(value) for key, value in (variables or {}).items() if not isinstance(value, dict)}


def _parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    parameters = template.get("Parameters") or {}
    return {name: str(declared["Default"]) for name, declared in parameters.items() if "Default" in declared}


def _parameter_values(template: dict[str, Any]) -> dict[str, str]:
    """Each parameter's value here: the environment variable Globals set from it, else its default."""
    values = _parameter_defaults(template)
    globals_env = ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    for variable, value in (globals_env.get("Variables") or {}).items():
        if isinstance(value, dict) and "Ref" in value and os.environ.get(variable):
            values[value["Ref"]] = os.environ[variable]
    values["Stage"] = LOCAL_STAGE
    return values


def _resolved(value: Any, parameters: dict[str, str]) -> Any:
    """A scalar, !Ref or a !Sub of parameters as the runner sees it; None if it cannot say."""
    if isinstance(value, dict) and "Ref" in value:
        return parameters.get(value["Ref"])
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        names = re.findall(r"\$\{([\w:]+)\}", value["Fn::Sub"])
        if any(name not in parameters for name in names):
            return None
        return re.sub(r"\$\{([\w:]+)\}", lambda found: parameters[found.group(1)], value["Fn::Sub"])
    return None if isinstance(value, dict) else value


_RATE_UNITS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


def _rate_s(expression: Any) -> float | None:
    """The period of `rate(N unit)`; None for a cron expression, which the runner does not run."""
    found = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", str(expression).strip())
    return int(found.group(1)) * _RATE_UNITS[found.group(2)] if found else None


def _kafka_mapping(name: str, function: str, properties: dict[str, Any], template: dict[str, Any]) -> KafkaMapping:
    parameters = _parameter_values(template)
    defaults = _parameter_defaults(template)
    topics: list[str] = []
    platform_topics: dict[str, str] = {}
    for topic in properties.get("Topics") or []:
        resolved = _resolved(topic, parameters)
        if resolved:
            topics.append(str(resolved))
            reference = topic.get("Ref") if isinstance(topic, dict) else None
            platform_topics[str(resolved)] = defaults.get(reference, str(resolved)) if reference else str(resolved)
    group = _resolved(properties.get("ConsumerGroupId"), parameters) or f"{function}-{name}"
    return KafkaMapping(
        name=name,
        function=function,
        topics=topics,
        consumer_group=str(group),
        starting_position=str(_resolved(properties.get("StartingPosition"), parameters) or "LATEST"),
        batch_size=int(properties.get("BatchSize", 100)),
        batching_window_s=float(properties.get("MaximumBatchingWindowInSeconds", 0.5)),
        report_batch_item_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
        maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", -1)),
        bisect_on_function_error=bool(properties.get("BisectBatchOnFunctionError", False)),
        platform_topics=platform_topics,
    )


def load(root: Path) -> list[Function]:
    template = read(root)
    global_function = (template.get("Globals") or {}).get("Function") or {}
    global_env = _plain_values((global_function.get("Environment") or {}).get("Variables"))
    resources = template.get("Resources") or {}
    stage_variables = {
        name: _plain_values((resource.get("Properties") or {}).get("Variables"))
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Api"
    }
    functions: list[Function] = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        environment = {**global_env, **_plain_values((properties.get("Environment") or {}).get("Variables"))}
        routes: list[Route] = []
        mappings: list[KafkaMapping] = []
        schedules: list[float] = []
        for event_name, event in (properties.get("Events") or {}).items():
            event_properties = event.get("Properties") or {}
            if event.get("Type") == "Api":
                api = (event_properties.get("RestApiId") or {}).get("Ref", "Api")
                routes.append(
                    _route(event_properties["Method"], event_properties["Path"], api, stage_variables.get(api))
                )
            elif event.get("Type") == "MSK":
                mappings.append(_kafka_mapping(event_name, name, event_properties, template))
            elif event.get("Type") in ("Schedule", "ScheduleV2"):
                period = _rate_s(event_properties.get("ScheduleExpression") or event_properties.get("Schedule"))
                if period is not None:
                    schedules.append(period)
        functions.append(
            Function(
                name=name,
                code_uri=(root / str(properties.get("CodeUri", global_function.get("CodeUri", ".")))).resolve(),
                handler=str(properties.get("Handler", global_function.get("Handler", "app.lambda_handler"))),
                environment=environment,
                routes=routes,
                mappings=mappings,
                schedules=schedules,
                timeout_s=float(properties.get("Timeout", global_function.get("Timeout", 3))),
            )
        )
    return functions


def cors(root: Path) -> dict[str, str]:
    """The preflight answer of the public API's CORS configuration (the `Cors` of its
    AWS::Serverless::Api), as API Gateway's mock OPTIONS integration sends it; the origin is
    the runner's to set (template parameters are not resolved here)."""
    template = read(root)
    found = ((template.get("Resources") or {}).get("Api") or {}).get("Properties", {}).get("Cors") or {}
    headers = {
        "Access-Control-Allow-Headers": found.get("AllowHeaders"),
        "Access-Control-Allow-Methods": found.get("AllowMethods"),
        "Access-Control-Max-Age": found.get("MaxAge"),
    }
    return {name: str(value).strip("'") for name, value in headers.items() if isinstance(value, str)}
