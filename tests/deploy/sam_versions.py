"""Run by .venv-sam's Python (SAM's own translator): the `live` alias's version of every function,
as AWS's SAM transform names it, for the template with some changes applied. Argument: a JSON
object with `layer` (a marker of the layer's content), `runtime`, `parameters`."""

import json
import sys
from pathlib import Path

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def main() -> None:
    template = yaml_parse((Path(__file__).parents[2] / "template.yaml").read_text())
    change = json.loads(sys.argv[1])
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        # as `sam deploy` uploads them: one key per content, the same while the content is
        if "CodeUri" in properties:
            properties["CodeUri"] = f"s3://artifacts/{name}"
        if "ContentUri" in properties:
            properties["ContentUri"] = f"s3://artifacts/{name}-{change.get('layer', 'as-is')}"
    if "runtime" in change:
        template["Globals"]["Function"]["Runtime"] = change["runtime"]
    translated = transform(template, {"Stage": "prod", **change.get("parameters", {})}, NoManagedPolicies())
    versions = {
        name.removesuffix("Aliaslive"): resource["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Alias"
    }
    print(json.dumps(versions))


main()
