"""Builds connectors from settings: the one place that knows each agency's class and
which credentials it needs."""

from __future__ import annotations

from collections.abc import Callable

from hub.config import ConnectorSettings, HubSettings
from hub.connectors.base import Connector
from hub.connectors.baznas import BaznasConnector
from hub.connectors.bpjs import BpjsConnector
from hub.connectors.dci import DciConnector
from hub.connectors.dtks import DtksConnector
from hub.connectors.dukcapil import DukcapilConnector
from hub.connectors.education import EducationConnector

# name → (class, credential keys in constructor order)
CONNECTORS: dict[str, tuple[Callable[..., Connector], tuple[str, ...]]] = {
    "dtks": (DtksConnector, ("api_key",)),
    "dukcapil": (DukcapilConnector, ("lembaga", "user_id", "password")),
    "bpjs": (BpjsConnector, ("cons_id", "secret", "user_key")),
    "education": (EducationConnector, ("client_id", "client_secret")),
    "baznas": (BaznasConnector, ("api_key",)),
    "dci": (DciConnector, ("client_id", "client_secret")),
}
# Credentials a connector can use but does without.
OPTIONAL: dict[str, tuple[str, ...]] = {"dci": ("signing_key",)}


class ConnectorConfigError(ValueError):
    """A connector's settings cannot build it; the message names the key."""


def build_connector(name: str, settings: ConnectorSettings) -> Connector:
    kind = settings.kind or name
    if kind not in CONNECTORS:
        raise ConnectorConfigError(
            f"connectors.{name}: unknown connector; known: {', '.join(CONNECTORS)} "
            "(or set kind)"
        )
    cls, needed = CONNECTORS[kind]
    missing = [key for key in needed if not settings.credentials.get(key)]
    if missing:
        raise ConnectorConfigError(
            f"connectors.{name}.credentials lacks {', '.join(missing)} "
            f"(set HUB_CONNECTORS__{name.upper()}__CREDENTIALS__{missing[0].upper()})"
        )
    extra: dict[str, str] = {key: settings.credentials[key]
                             for key in OPTIONAL.get(kind, ()) if settings.credentials.get(key)}
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
