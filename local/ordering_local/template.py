"""What the local runner reads from template.yaml: routes → functions → handlers, MSK topics
→ consumer functions, and each function's environment."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt…) as opaque values."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {f"Fn::{tag_suffix}" if tag_suffix not in ("Ref", "Condition") else tag_suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


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
class Function:
    name: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    routes: list[Route] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    timeout_s: float = 3.0  # Lambda's default, when the template sets none

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


def _plain_values(variables: dict[str, Any] | None) -> dict[str, str]:
    """Environment values the runner can use as they are; intrinsics are resolved locally."""
    return {key: str(value) for key, value in (variables or {}).items() if not isinstance(value, dict)}


def _topic_names(topics: Any, parameters: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for topic in topics or []:
        if isinstance(topic, dict) and "Ref" in topic:
            default = parameters.get(topic["Ref"], {}).get("Default")
            if default:
                names.append(str(default))
        elif isinstance(topic, str):
            names.append(topic)
    return names


def load(root: Path) -> list[Function]:
    template = yaml.load((root / "template.yaml").read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    parameters = template.get("Parameters") or {}
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
        topics: list[str] = []
        for event in (properties.get("Events") or {}).values():
            event_properties = event.get("Properties") or {}
            if event.get("Type") == "Api":
                api = (event_properties.get("RestApiId") or {}).get("Ref", "Api")
                routes.append(
                    _route(event_properties["Method"], event_properties["Path"], api, stage_variables.get(api))
                )
            elif event.get("Type") == "MSK":
                topics.extend(_topic_names(event_properties.get("Topics"), parameters))
        functions.append(
            Function(
                name=name,
                code_uri=(root / str(properties.get("CodeUri", global_function.get("CodeUri", ".")))).resolve(),
                handler=str(properties.get("Handler", global_function.get("Handler", "app.lambda_handler"))),
                environment=environment,
                routes=routes,
                topics=topics,
                timeout_s=float(properties.get("Timeout", global_function.get("Timeout", 3))),
            )
        )
    return functions


def cors(root: Path) -> dict[str, str]:
    """The preflight answer of the public API's CORS configuration (the `Cors` of its
    AWS::Serverless::Api), as API Gateway's mock OPTIONS integration sends it; the origin is
    the runner's to set (template parameters are not resolved here)."""
    template = yaml.load((root / "template.yaml").read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    found = ((template.get("Resources") or {}).get("Api") or {}).get("Properties", {}).get("Cors") or {}
    headers = {
        "Access-Control-Allow-Headers": found.get("AllowHeaders"),
        "Access-Control-Allow-Methods": found.get("AllowMethods"),
        "Access-Control-Max-Age": found.get("MaxAge"),
    }
    return {name: str(value).strip("'") for name, value in headers.items() if isinstance(value, str)}
