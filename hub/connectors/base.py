"""A connector is a set of streams (as in the Singer SDK / Airbyte CDK): each stream
declares how to fetch one page after a cursor, the schema its records must satisfy, the
key that identifies a record at the agency, and how to map it to the hub's terms."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from hub.connectors.http import AgencyClient, CircuitBreaker, RetryPolicy


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    cursor: str | None       # where the next page starts; saved after this page is staged
    has_more: bool           # False: the feed is drained for now


class Stream(ABC):
    """One kind of record at one agency."""

    name: ClassVar[str]          # unique within the connector, e.g. "individuals"
    source: ClassVar[str]        # SourceRecord.source, e.g. "dtks_individual"
    model: ClassVar[type[BaseModel]]

    @abstractmethod
    def key(self, raw: dict[str, Any]) -> str | None:
        """The record's identity at the agency, read from the raw payload."""

    @abstractmethod
    def normalize(self, record: BaseModel) -> dict[str, Any]:
        """The validated record in the hub's terms (matching and reconciliation read it)."""

    @abstractmethod
    async def fetch(self, client: AgencyClient, cursor: str | None) -> Page:
        """One page after `cursor` (None: from the beginning)."""

    def comparable(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The form in which a record that fails validation is compared with what is
        staged: values as trimmed text, empty as null. One agency's channels (CSV text,
        JSON numbers) then agree on a broken record as they do on a valid one."""
        return {key: _as_text(value) for key, value in raw.items()}


def _as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


class Connector(ABC):
    """An agency's system: where it is, how we authenticate, which streams it has."""

    name: ClassVar[str]
    # The credential keys its constructor takes after the base URL, in order (the
    # registry reads them from `[connectors.<name>.credentials]`), and those it can use
    # but does without.
    credentials: ClassVar[tuple[str, ...]] = ()
    optional_credentials: ClassVar[tuple[str, ...]] = ()

    def __init__(self, base_url: str, *, concurrency: int = 4,
                 rate_per_second: float | None = None, retry: RetryPolicy | None = None,
                 breaker: CircuitBreaker | None = None) -> None:
        self.base_url = base_url
        self.concurrency = concurrency
        self.rate_per_second = rate_per_second
        self.retry = retry
        # One breaker per connector, shared by its clients: it outlives a single run.
        self.breaker = breaker or CircuitBreaker()

    @property
    @abstractmethod
    def streams(self) -> Sequence[Stream]: ...

    def stream(self, name: str) -> Stream:
        for stream in self.streams:
            if stream.name == name:
                return stream
        known = ", ".join(s.name for s in self.streams)
        raise KeyError(f"connector {self.name} has no stream {name!r}; it has {known}")

    def client(self) -> AgencyClient:
        return AgencyClient(
            self.name, self.base_url, concurrency=self.concurrency,
            rate_per_second=self.rate_per_second, retry=self.retry, breaker=self.breaker,
        )
