"""The DCI OpenAPI specifications, as validators: every message the hub sends or
receives in the tests is also checked against them, where they are found.

The specification files are the DCI initiative's, not ours, so the repository does not
carry them: they are looked for at `HUB_DCI_SPECS` (default `../shared/standards/dci`,
beside the clone). Without them the hub's own behaviour is still tested in full; only
this conformance check is not made, and `tests/dci/test_conformance.py` says so. With
`HUB_DCI_SPECS_REQUIRED=1` (as `.ci/run` sets) their absence is a failure, so CI always
checks conformance.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

SPECS = Path(os.environ.get("HUB_DCI_SPECS")
             or Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dci")
REQUIRED = os.environ.get("HUB_DCI_SPECS_REQUIRED") == "1"
NAMES = ("social", "ibr", "crvs", "authz_core", "jwks_core")


def available() -> bool:
    return all((SPECS / f"{name}_api_v1.0.0.yaml").is_file() for name in NAMES)


def missing_message() -> str:
    return (f"the DCI specifications are not at {SPECS} (set HUB_DCI_SPECS to where "
            "social_api_v1.0.0.yaml and the others are): conformance to them is not checked")


def require() -> None:
    """For a test that can do nothing without the specifications (generating messages
    from them): it is not run where they are absent, and fails where they are required."""
    if not available():
        if REQUIRED:
            pytest.fail(missing_message())
        pytest.skip(missing_message())


@cache
def _spec(name: str) -> dict[str, Any]:
    path = SPECS / f"{name}_api_v1.0.0.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _checking() -> bool:
    """Whether conformance can be checked; a required but absent specification fails."""
    if available():
        return True
    if REQUIRED:
        raise FileNotFoundError(missing_message())
    return False


def problems(spec: str, schema: str, instance: Any) -> list[str]:
    """Why `instance` does not fit `#/components/schemas/<schema>` of the spec (none: it
    fits, or the specifications are not here to say)."""
    if not _checking():
        return []
    root = {"$ref": f"#/components/schemas/{schema}", "components": _spec(spec)["components"]}
    return [error.message for error in jsonschema_rs.validator_for(root).iter_errors(instance)]


def _pointer(path: str, *rest: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return "/".join(["#", "paths", escaped, *rest])


def request_problems(spec: str, path: str, instance: Any) -> list[str]:
    """Why a request body does not fit the POST body schema of `path`."""
    if not _checking():
        return []
    return _at(spec, _pointer(path, "post", "requestBody", "content", "application~1json",
                              "schema"), instance)


def response_problems(spec: str, path: str, instance: Any) -> list[str]:
    """Why a reply does not fit the default response of `path`: given in place, or by
    reference to a shared response (the asynchronous endpoints' acknowledgement)."""
    if not _checking():
        return []
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
