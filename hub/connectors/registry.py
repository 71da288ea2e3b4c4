"""Builds connectors from settings: the one place that lists the agencies' classes. A
class says which credentials it needs; adding an agency is its module, a line here and
its `[connectors.<name>]` section."""

from __future__ import annotations

from hub.config import ConnectorSettings, HubSettings
from hub.connectors.base import Connector
from hub.connectors.baznas import BaznasConnector
from hub.connectors.bpjs import BpjsConnector
from hub.connectors.dci import DciConnector
from hub.connectors.dtks import DtksConnector
from hub.connectors.dukcapil import DukcapilConnector
from hub.connectors.education import EducationConnector

CONNECTORS: dict[str, type[Connector]] = {cls.name: cls for cls in (
    DtksConnector, DukcapilConnector, BpjsConnector, EducationConnector, BaznasConnector,
    DciConnector,
)}


class ConnectorConfigError(ValueError):
    """A connector's settings cannot build it; the message names the key."""


def build_connector(name: str, settings: ConnectorSettings) -> Connector:
    kind = settings.kind or name
    if kind not in CONNECTORS:
        raise ConnectorConfigError(
            f"connectors.{name}: unknown connector; known: {', '.join(CONNECTORS)} "
            "(or set kind)"
        )
    cls = CONNECTORS[kind]
    needed = cls.credentials
    missing = [key for key in needed if not settings.credentials.get(key)]
    if missing:
        raise ConnectorConfigError(
            f"connectors.{name}.credentials lacks {', '.join(missing)} "
            f"(set HUB_CONNECTORS__{name.upper()}__CREDENTIALS__{missing[0].upper()})"
        )
    extra: dict[str, str] = {key: settings.credentials[key]
                             for key in cls.optional_credentials
                             if settings.credentials.get(key)}
    if kind == "dci":
        extra["name"] = name  # cursors and record keys are the registry's own
    try:
        return cls(
            settings.base_url, *(settings.credentials[key] for key in needed),
            page_size=settings.page_size, concurrency=settings.concurrency,
            rate_per_second=settings.rate_per_second, **settings.options, **extra,
        )
    except TypeError as wrong:
        raise ConnectorConfigError(f"connectors.{name}.options: {wrong}") from None


def enabled_connectors(settings: HubSettings, only: list[str] | None = None) -> list[Connector]:
    unknown = set(only or ()) - set(settings.connectors)
    if unknown:
        raise ConnectorConfigError(
            f"no connector named {', '.join(sorted(unknown))}; "
            f"configured: {', '.join(settings.connectors)}"
        )
    return [
        build_connector(name, conf)
        for name, conf in settings.connectors.items()
        if conf.enabled and (not only or name in only)
    ]
