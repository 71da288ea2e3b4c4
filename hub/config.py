"""Settings: `config/hub.toml`, overridden key by key by `HUB_*` environment variables.

A deployment changes one value without copying the whole file (HUB_DATABASE__URL=...),
and a wrong value stops the hub at start with the key named, instead of failing later
inside a request.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_PATH = Path("config/hub.toml")
ENV_PREFIX = "HUB_"
ENV_DELIMITER = "__"


PROJECT_ROOT = Path(__file__).resolve().parents[1]  # a clone or an editable install

class _Section(BaseModel):
    """A typo in a key is an error, not a silently ignored line."""

    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///var/hub.db"
    echo: bool = False
    # Connections kept open. Requests beyond it wait for one to come back (a planned
    # read holds one for about a millisecond). Overflow connections are closed again on
    # return: a new PostgreSQL backend (TLS negotiation included) each time, which under
    # 32 clients doubled the p99 of a look-up; so none by default.
    pool_size: int = Field(20, ge=1, le=500)
    max_overflow: int = Field(0, ge=0, le=500)

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(the hub talks to its database asynchronously)"
            )
        return value

    # "province": `person` and `household` are PostgreSQL tables partitioned by
    # province (`hub.db.partitions`), for a national hub; chosen when the database is
    # created (`slrt-hub db upgrade` lays them out while they are empty).
    partitions: Literal["none", "province"] = "none"

    @property
    def by_province(self) -> bool:
        """Whether new registry rows' ids carry their province (`hub.domain.provinces`)."""
        return self.partitions == "province"

    @model_validator(mode="after")
    def _partitions_need_postgresql(self) -> DatabaseSettings:
        if self.partitions != "none" and not self.url.startswith("postgresql"):
            raise ValueError("partitions = \"province\" needs PostgreSQL (database.url "
                             "postgresql+asyncpg://...); SQLite has no partitioned tables")
        return self


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    graphiql: bool = True
    max_page_size: int = Field(500, ge=1, le=10_000)
    # Compile reads of the registry (person, household, households, region) into one
    # SQL statement each request; off, every field runs through its resolver.
    read_planner: bool = True
    # Where `make assets` installs the browser files the hub serves itself (GraphiQL,
    # React): no page loads anything from the internet.
    # A relative path is read against the project folder, like the others.
    web_assets: Path = Path("web/node_modules")
    # The garbage collector of a serving process (hub/collector.py): objects alive at
    # start-up are frozen out of its walks, and the young generation is collected
    # every `gc_young_threshold` allocations (Python's default is 700; None keeps it).
    freeze_startup_heap: bool = True
    gc_young_threshold: int | None = Field(10_000, ge=100, le=1_000_000)


class PopulationSettings(_Section):
    seed: int = 2026
    regency: str = "33.14"
    households: int = Field(5000, ge=1)
    out_dir: Path = Path("var/population")


class ConnectorSettings(_Section):
    """One agency system. Secrets belong in the environment, not the file:
    HUB_CONNECTORS__BPJS__CREDENTIALS__SECRET=..."""

    enabled: bool = True
    # Which connector this is, when the name says otherwise: several DCI registries
    # are several `[connectors.<name>]` with kind = "dci".
    kind: str | None = None
    base_url: str
    credentials: dict[str, str] = {}
    # Settings of the connector that are not secrets (a DCI registry: sender_id,
    # receiver_id, region).
    options: dict[str, str] = {}
    page_size: int = Field(1000, ge=1, le=5000)
    concurrency: int = Field(4, ge=1, le=64)
    rate_per_second: float | None = Field(None, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class SimulatorSettings(_Section):
    """Where `slrt-hub simulate` and the demo serve the simulated agencies."""

    host: str = "127.0.0.1"
    ports: dict[str, int] = {
        "dtks": 8101, "dukcapil": 8102, "bpjs": 8103, "education": 8104, "baznas": 8105,
    }


class SparkSettings(_Section):
    """Where the Spark backend scores (`backend = "spark"`): `local[N]` runs Spark in
    this process's machine on N cores; `spark://host:port` a standalone cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    master: str = "local[2]"
    driver_memory: str = "4g"
    # Shuffle partitions: a few per core is right for one machine; a cluster wants
    # two or three per executor core.
    shuffle_partitions: int = Field(8, ge=1)
    # Spark's spill files, checkpoints and the scored pairs; default: the temp directory.
    work_dir: str | None = None


class MatchingSettings(_Section):
    """Entity resolution thresholds (match probabilities from the Fellegi-Sunter model)."""

    # At or above: linked automatically. Between lower and upper: a review task.
    upper_threshold: float = Field(0.99, gt=0, lt=1)
    lower_threshold: float = Field(0.5, gt=0, lt=1)
    # Sources that hold at most one record per person: two of them are never merged.
    unique_sources: list[str] = ["dukcapil"]
    # Retrain the model when the registry has grown by this factor since training.
    retrain_growth: float = Field(2.0, gt=1)
    # Where candidate pairs are blocked and scored: DuckDB in this process, or Apache
    # Spark (`hub.sync.spark`, the `spark` extra) for registries beyond one machine.
    backend: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkSettings = SparkSettings()

    @model_validator(mode="after")
    def _ordered(self) -> MatchingSettings:
        if self.lower_threshold > self.upper_threshold:
            raise ValueError("lower_threshold must not exceed upper_threshold")
        return self


class SurvivorshipSettings(_Section):
    """Which source's value a golden record keeps, in order of preference."""

    identity: list[str] = ["dukcapil", "dtks_individual", "bpjs", "education", "baznas",
                           "ibr"]
    residence: list[str] = ["dtks_individual", "dukcapil", "baznas"]
    welfare: list[str] = ["dtks_household"]
    programs: dict[str, str] = {
        "PBI_JKN": "bpjs", "JKN": "bpjs", "KIP_PIP": "education", "BAZNAS": "baznas",
        "PKH": "dtks_individual", "BPNT": "dtks_individual", "BLT_DD": "ibr",
    }


class FindingSettings(_Section):
    """Finding rules' parameters."""

    # ELIGIBLE_NOT_COVERED: households in these desil should hold PBI-JKN ...
    pbi_max_desil: int = Field(4, ge=1, le=10)
    # ... and their school-age children PIP.
    pip_max_desil: int = Field(4, ge=1, le=10)
    pip_ages: tuple[int, int] = (6, 21)


class ScheduleSettings(_Section):
    """When the scheduler runs each connector (cron or interval) and reconciliation."""

    enabled: bool = True
    # connector name -> a crontab line ("0 2 * * *") or an interval ("every 15m")
    connectors: dict[str, str] = {}
    # seconds a leader's lease lasts without renewal; another replica takes over after
    lease_seconds: int = Field(30, ge=5, le=3600)
    # how often the leader looks for syncs asked through the API
    poll_seconds: float = Field(2.0, gt=0, le=300)
    misfire_grace_seconds: int = Field(300, ge=1)

    @field_validator("connectors")
    @classmethod
    def _parsable(cls, value: dict[str, str]) -> dict[str, str]:
        from hub.schedules import parse_schedule

        for name, spec in value.items():
            try:
                parse_schedule(spec)
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
        return value


class ProgramRuleSettings(_Section):
    """One programme's eligibility rule (see hub/domain/eligibility.py)."""

    description: str = ""
    min_desil: int = Field(1, ge=1, le=10)
    max_desil: int | None = Field(None, ge=1, le=10)
    min_age: int | None = Field(None, ge=0, le=130)
    max_age: int | None = Field(None, ge=0, le=130)
    alive: bool = True
    not_enrolled_in: list[str] = []
    requires_enrolled_in: list[str] = []
    regions: list[str] = []
    head_only: bool = False
    household_min_members: int | None = Field(None, ge=1)
    household_member_under: int | None = Field(None, ge=1)
    household_member_over: int | None = Field(None, ge=0)
    overlap_programs: list[str] = ["PBI_JKN", "KIP_PIP", "PKH", "BPNT", "BAZNAS"]


class EligibilitySettings(_Section):
    """Programmes partners and offices can check eligibility for, by name."""

    max_batch: int = Field(10_000, ge=1, le=100_000)
    # A batch's persons are read in this many statements at once (PostgreSQL), each on
    # its own connection: two halves took half the time of one statement on two cores.
    statement_parts: int = Field(2, ge=1, le=16)
    programs: dict[str, ProgramRuleSettings] = {}


class ServiceSettings(_Section):
    """A service an SLRT referral can ask for, the agency that provides it, its SLA."""

    name: str
    agency: str
    sla_hours: float = Field(gt=0)


class AgencyEndpointSettings(_Section):
    """Where an agency receives new referrals, and the secret both sides sign with.
    Secrets belong in the environment: HUB_DESK__AGENCIES__BPJS__SECRET."""

    webhook_url: str | None = None
    secret: str

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class DeskSettings(_Section):
    """The SLRT desk: service catalogue, SLAs, referral letters, the SLA watcher."""

    # Emergencies are answered within this many hours, whatever the service.
    emergency_hours: float = Field(4.0, gt=0)
    # A case gets its first response (a recommendation, or an answer) within this.
    first_response_hours: float = Field(24.0, gt=0)
    # Signs referral letters' verification codes: set it in the environment.
    letter_secret: str = "change-me-HUB_DESK__LETTER_SECRET"
    # How often the SLA watcher looks for overdue referrals.
    watch_seconds: float = Field(60.0, gt=0)
    services: dict[str, ServiceSettings] = {}
    agencies: dict[str, AgencyEndpointSettings] = {}
    # Where agencies send their signed callbacks: the hub's address as they reach it.
    callback_base_url: str = "http://127.0.0.1:8000"
    # Webhook delivery: tries before a delivery is dead-lettered, and the backoff
    # between them (doubling from the first, capped), and how often the queue is read.
    webhook_attempts: int = Field(10, ge=1, le=100)
    webhook_backoff_seconds: float = Field(2.0, gt=0)
    webhook_backoff_max_seconds: float = Field(300.0, gt=0)
    webhook_poll_seconds: float = Field(2.0, gt=0)
    webhook_timeout_seconds: float = Field(10.0, gt=0)


class AccessSettings(_Section):
    """Authentication cache, abuse limits and audit writing."""

    # A verified key is trusted this long before the register is read again: the
    # time a revoked key may still work on a replica.
    auth_cache_seconds: float = Field(5.0, ge=0, le=300)
    # Requests per minute per client, unless the client's registration says otherwise.
    rate_per_minute: int = Field(600, ge=1)
    # Whether clients (other than PARTNER) may read the schema by introspection.
    introspection: bool = True
    max_depth: int = Field(10, ge=2, le=100)
    max_aliases: int = Field(30, ge=0, le=1000)
    max_tokens: int = Field(5000, ge=100, le=1_000_000)
    # Cost = object fields fetched, each times its page size (see hub/access/cost.py).
    max_cost: int = Field(50_000, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1024, le=100_000_000)
    # Audit entries are written in groups this often (off the request path).
    audit_flush_seconds: float = Field(0.05, gt=0, le=10)
    # WebSocket (graphql-transport-ws): operations one connection may run at once, how
    # long a client has to send connection_init, how often subscriptions poll.
    max_subscriptions_per_connection: int = Field(10, ge=1, le=1000)
    # OAuth2 client-credentials tokens (POST /dci/oauth2/client/token): who signs them
    # (`iss`), whom they are for (`aud`: this hub's API; a token minted for another
    # audience is refused) and how long they live.
    token_issuer: str = "slrt-hub"
    token_audience: str = "slrt-hub-api"
    token_ttl_seconds: int = Field(3600, ge=60, le=86_400)
    connection_init_timeout_seconds: float = Field(10.0, gt=0, le=300)
    subscription_poll_seconds: float = Field(1.0, gt=0, le=300)


DRIFT = frozenset({"string_total_count", "two_letter_locale"})


def known_drift(value: list[str]) -> list[str]:
    unknown = set(value) - DRIFT
    if unknown:
        raise ValueError(f"unknown drift {sorted(unknown)}; known: {sorted(DRIFT)}")
    return value


class DciSenderSettings(_Section):
    """A system that sends the hub DCI messages, as onboarded: who may speak as it, the
    keys its signatures verify with, and the only hosts its callbacks may go to."""

    # API client names (slrt-hub clients list) allowed to send with this sender_id;
    # empty: any authenticated client.
    clients: list[str] = []
    # Ed25519 public keys by kid (base64url of the raw 32 bytes, a JWK's `x`) ...
    public_keys: dict[str, str] = {}
    # ... and/or its published JWK set, read on demand and cached.
    jwks_url: str | None = None
    # host:port pairs that sender_uri and subscription callbacks may point at.
    callback_hosts: list[str] = []
    # Sent as `Authorization: Bearer …` with callbacks, if the sender's endpoints want
    # one (set it in the environment: HUB_DCI__SENDERS__<ID>__CALLBACK_TOKEN).
    callback_token: str | None = None
    require_signature: bool | None = None  # None: the [dci] default
    # Known drift of this partner to accept (see [dci].tolerate).
    tolerate: list[str] = []
    # Messages per minute from this sender, whichever client sends them (None: only
    # the clients' own limits apply).
    rate_per_minute: int | None = Field(None, ge=1)
    # When the sender is a registry this hub reads ([connectors.<name>] kind = "dci"):
    # that connector, whose records its notifications update.
    connector: str | None = None

    @field_validator("tolerate")
    @classmethod
    def _drift(cls, value: list[str]) -> list[str]:
        return known_drift(value)


class DciSettings(_Section):
    """The DCI interface (/dci): signatures, callbacks, notifications, partner drift."""

    # Refuse unsigned messages from every sender (a sender's own setting wins).
    require_signature: bool = False
    # Senders that are not registered may still use the sync endpoints (signing and
    # callbacks need a registration).
    allow_unregistered: bool = True
    # How the hub signs what it sends: "header" (the spec's form) or "jws".
    signature_scheme: str = Field("header", pattern="^(header|jws)$")
    # Drift tolerated from every sender: "string_total_count" (sample messages send
    # total_count as "1"), "two_letter_locale" ("id" for "ind").
    tolerate: list[str] = []
    # Async callbacks and notifications: tries, backoff (doubling, capped), timeouts.
    callback_attempts: int = Field(8, ge=1, le=100)
    callback_backoff_seconds: float = Field(2.0, gt=0)
    callback_backoff_max_seconds: float = Field(300.0, gt=0)
    callback_timeout_seconds: float = Field(10.0, gt=0)
    # Answers kept for txn/status, delivered callbacks and received callbacks hold
    # personal data: they are deleted this long after (subscriptions stay).
    retention_hours: float = Field(72.0, gt=0)
    # Every replica runs the DCI worker (async searches, notifications, callbacks);
    # its steps claim their rows, so they never do one thing twice.
    worker: bool = True
    # How often the worker looks for async work, due notifications and callbacks.
    poll_seconds: float = Field(1.0, gt=0)
    senders: dict[str, DciSenderSettings] = {}

    @field_validator("tolerate")
    @classmethod
    def _drift(cls, value: list[str]) -> list[str]:
        return known_drift(value)


class ConsoleSettings(_Section):
    """The desk console at /console: officers sign in with a password."""

    enabled: bool = True
    # A desk shift: a session ends this long after sign-in, whatever happens in it.
    session_minutes: int = Field(480, ge=5, le=24 * 60)
    # Failed passwords in a row before an account is locked, and for how long.
    max_failures: int = Field(5, ge=1, le=100)
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    # Send the session cookie only over HTTPS. On in production behind the TLS proxy;
    # off for the demo on http://127.0.0.1.
    secure_cookie: bool = False
    # The officers' language unless they choose another: Bahasa Indonesia.
    default_locale: Literal["id", "en"] = "id"
    # Times on the pages: WIB by default (Asia/Makassar for WITA, Asia/Jayapura for WIT).
    timezone: str = "Asia/Jakarta"


class LogSettings(_Section):
    # "text": lines for a terminal; "json": one object per line for a log collector,
    # with the request id, client and operation of the request being served.
    format: str = Field("text", pattern=r"^(text|json)$")
    level: str = Field("WARNING", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        extra="forbid",
    )

    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    population: PopulationSettings = PopulationSettings()
    connectors: dict[str, ConnectorSettings] = {}
    simulators: SimulatorSettings = SimulatorSettings()
    matching: MatchingSettings = MatchingSettings()
    survivorship: SurvivorshipSettings = SurvivorshipSettings()
    findings: FindingSettings = FindingSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    access: AccessSettings = AccessSettings()
    eligibility: EligibilitySettings = EligibilitySettings()
    desk: DeskSettings = DeskSettings()
    dci: DciSettings = DciSettings()
    console: ConsoleSettings = ConsoleSettings()
    log: LogSettings = LogSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        return (init_settings, env_settings, toml)


class SettingsError(RuntimeError):
    """A setting has a value the hub cannot run with; the message names the key."""



def config_path() -> Path:
    """`HUB_CONFIG`, else `config/hub.toml` here, else the project's own: a command run
    from another folder reads the same settings as one run from the project."""
    if "HUB_CONFIG" in os.environ:
        return Path(os.environ["HUB_CONFIG"])
    if DEFAULT_CONFIG_PATH.is_file():
        return DEFAULT_CONFIG_PATH
    return PROJECT_ROOT / DEFAULT_CONFIG_PATH


def base_folder(config: Path) -> Path:
    """Where relative paths in the settings are read from: the folder holding
    `config/` (the project), or the configuration file's own folder."""
    folder = config.resolve().parent
    return folder.parent if folder.name == "config" else folder


def _anchored(url: str, base: Path) -> str:
    """A relative SQLite path read against `base`, not the working directory (from
    another folder, `var/hub.db` would silently be a new, empty database there)."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix):
        return url
    path, _, query = url[len(prefix):].partition("?")
    if not path or path == ":memory:" or Path(path).is_absolute():
        return url
    return prefix + str(base / path) + (f"?{query}" if query else "")


def env_name(location: tuple[int | str, ...]) -> str:
    """The environment variable that overrides the setting at `location`."""
    return ENV_PREFIX + ENV_DELIMITER.join(str(part).upper() for part in location)


def load_settings(**overrides: Any) -> HubSettings:
    """Read the settings, turning pydantic's report into one line per bad key."""
    path = config_path()
    if "HUB_CONFIG" in os.environ and not path.is_file():
        raise SettingsError(f"HUB_CONFIG points at {path}, which is not a file")
    try:
        settings = HubSettings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            lines.append(
                f"setting {key} (in {path} or {env_name(error['loc'])}): {error['msg']}"
                f"; got {error.get('input')!r}"
            )
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    base = base_folder(path)
    population = settings.population.out_dir
    assets = settings.server.web_assets
    return settings.model_copy(update={
        "database": settings.database.model_copy(
            update={"url": _anchored(settings.database.url, base)}),
        "population": settings.population.model_copy(update={
            "out_dir": population if population.is_absolute() else base / population}),
        "server": settings.server.model_copy(update={
            "web_assets": assets if assets.is_absolute() else base / assets}),
    })


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    return load_settings()
