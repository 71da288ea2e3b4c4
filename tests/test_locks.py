"""The lock files agree with pyproject.toml: every direct dependency is locked at a
version its specifier allows, so a dependency added or a bound raised without relocking
fails here. (Whether the lower bounds really work is `make lowest`'s business: it installs
`requirements/lowest-direct.lock` and runs the suite on it.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "requirements"


def _locked(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if found:
            pins[canonicalize_name(found.group(1))] = found.group(2)
    return pins


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return [Requirement(text) for text in wanted]


@pytest.mark.parametrize(("lock", "extras"), [
    ("run.lock", ("linkage",)), ("test.lock", ("test", "dev", "linkage")),
    ("lowest-direct.lock", ("test", "dev", "linkage")),
])
def test_every_direct_dependency_is_locked_within_its_bounds(lock: str,
                                                             extras: tuple[str, ...]) -> None:
    pins = _locked(LOCKS / lock)
    for requirement in _requirements(extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements/{lock}: relock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements/{lock} has {name}=={pins[name]}, outside {requirement}: relock")

