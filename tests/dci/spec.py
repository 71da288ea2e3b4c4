"""The DCI OpenAPI specifications in ../shared/standards/dci, as validators: every
message the hub sends or receives in the tests is checked against them."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dci"


@cache
def _spec(name: str) -> dict[str, Any]:
    path = SPECS / f"{name}_api_v1.0.0.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"the DCI specifications are expected at {SPECS}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def problems(spec: str, schema: str, instance: Any) -> list[str]:
    """Why `instance` does not fit `#/components/schemas/<schema>` of the spec (none: it
    fits)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": _spec(spec)["components"]}
    return [error.message for error in jsonschema_rs.validator_for(root).iter_errors(instance)]


def _pointer(path: str, *rest: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return "/".join(["#", "paths", escaped, *rest])


def request_problems(spec: str, path: str, instance: Any) -> list[str]:
    """Why a request body does not fit the POST body schema of `path`."""
    return _at(spec, _pointer(path, "post", "requestBody", "content", "application~1json",
                              "schema"), instance)


def response_problems(spec: str, path: str, instance: Any) -> list[str]:
    """Why a reply does not fit the default response of `path`: given in place, or by
    reference to a shared response (the asynchronous endpoints' acknowledgement)."""
    default = _spec(spec)["paths"][path]["post"]["responses"]["default"]
    reference = default.get("$ref", "")
    if reference.startswith("#/components/responses/"):
        pointer = reference + "/content/application~1json/schema"
    else:
        pointer = _pointer(path, "post", "responses", "default", "content",
                           "application~1json", "schema")
    return _at(spec, pointer, instance)


def _at(spec: str, pointer: str, instance: Any) -> list[str]:
    loaded = _spec(spec)
    root = {"$ref": pointer, "components": loaded["components"], "paths": loaded["paths"]}
    return [error.message for error in jsonschema_rs.validator_for(root).iter_errors(instance)]
