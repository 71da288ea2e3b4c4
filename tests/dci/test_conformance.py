"""Where the DCI specifications are: found (conformance is checked by every DCI test),
or absent (a plain clone: the hub's behaviour is tested, conformance is not, and this
says so), or required and absent (CI: a failure)."""

from __future__ import annotations

from tests.dci import spec


def test_the_specifications_are_read_where_found() -> None:
    spec.require()
    assert spec.available()
    social = spec._spec("social")
    assert "/registry/sync/search" in social["paths"]
    # A message that breaks the spec is named as such: the checks can fail.
    assert spec.response_problems("social", "/registry/sync/search", {"header": {}}) != []
