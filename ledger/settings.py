"""Settings: everything a node is configured by, built once from flags and the environment.

A process builds one `Settings` and passes it on: to `init_node` and `open_node`, and to
uvicorn's workers as one JSON value (`SETTINGS_ENV`), the only way an app factory started
by `--workers N` can be handed anything.
"""

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ledger.log.witnessing import Witness, parse_witness
from ledger.storage.factory import backend_class, storage_env

DEFAULT_DATA = Path("data")
SETTINGS_ENV = "CARBON_LEDGER_SETTINGS"
CRYPTO_WORKERS_ENV = "CARBON_LEDGER_CRYPTO_WORKERS"
BATCH_ITEMS_ENV = "CARBON_LEDGER_BATCH_ITEMS"
WAIT_SECONDS_ENV = "CARBON_LEDGER_WAIT_SECONDS"
PRODUCTION_ENV = "CARBON_LEDGER_PRODUCTION"
KEYS_ENV = "CARBON_LEDGER_KEYS"
LOG_FORMAT_ENV = "CARBON_LEDGER_LOG_FORMAT"
READY_INTEGRATION_ENV = "CARBON_LEDGER_READY_INTEGRATION_SECONDS"
READY_PROJECTION_ENV = "CARBON_LEDGER_READY_PROJECTION_SECONDS"
LOG_FORMATS = ("json", "text")
READ_HOST_ENV = "CARBON_LEDGER_READ_POSTGRES_HOST"  # a streaming replica for the read models
READ_PORT_ENV = "CARBON_LEDGER_READ_POSTGRES_PORT"
TRUE = ("1", "true", "yes", "on")
MAX_BATCH_ITEMS = 1000  # the wire contract's ceiling (DESIGN.md)


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _positive(environ: Mapping[str, str], name: str, default: int, most: int = 2**31) -> int:
    """A positive integer setting from the environment, or `default` when unset."""
    text = environ.get(name, "")
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= most:
        raise ValueError(f"{name} must be an integer from 1 to {most}, not {text!r}")
    return int(text)


def _replica(storage: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str] | None:
    """The storage settings of the read replica the environment names, if it names one: the
    primary's, on another host or port, never creating anything."""
    host, port = environ.get(READ_HOST_ENV), environ.get(READ_PORT_ENV)
    if not (host or port):
        return None
    if backend_class(storage).name != "postgres":
        raise ValueError(f"{READ_HOST_ENV} and {READ_PORT_ENV} need PostgreSQL storage")
    replica = {**storage, "CREATE_TABLE": "n"}
    replica.update({"POSTGRES_HOST": host} if host else {})
    replica.update({"POSTGRES_PORT": port} if port else {})
    return replica


@dataclass(frozen=True)
class Limits:
    """What one request may ask of a node."""

    batch_items: int = MAX_BATCH_ITEMS  # submissions in one batch
    wait_seconds: int = 10  # how long ?wait=true and ?after= wait before answering
    ready_integration_seconds: int = 30  # /readyz fails once an entry waits longer for the log
    ready_projection_seconds: int = 120  # ... or for the read models

    @classmethod
    def build(cls, environ: Mapping[str, str]) -> "Limits":
        return cls(
            batch_items=_positive(environ, BATCH_ITEMS_ENV, MAX_BATCH_ITEMS, MAX_BATCH_ITEMS),
            wait_seconds=_positive(environ, WAIT_SECONDS_ENV, 10, 300),
            ready_integration_seconds=_positive(environ, READY_INTEGRATION_ENV, 30),
            ready_projection_seconds=_positive(environ, READY_PROJECTION_ENV, 120),
        )


@dataclass(frozen=True)
class Settings:
    """A node's data directory, storage (eventsourcing's settings, backend chosen once),
    witnesses, uvicorn workers, crypto workers per writing process and request limits."""

    data_dir: Path = DEFAULT_DATA
    storage: Mapping[str, str] = field(default_factory=dict)
    witnesses: tuple[Witness, ...] = ()
    workers: int = 1
    crypto_workers: int = 1
    limits: Limits = Limits()
    production: bool = False  # hold only the ledger key; never create keys
    keys: Path | None = None  # the private keys' directory (default: <data_dir>/keys)
    log_format: str = "json"  # one JSON object per line, or "text" for people
    read_storage: Mapping[str, str] | None = None  # a read-only replica for the read models

    @property
    def keys_dir(self) -> Path:
        return self.keys or self.data_dir / "keys"

    @classmethod
    def build(
        cls,
        data_dir: Path = DEFAULT_DATA,
        storage: Mapping[str, str] | None = None,
        witnesses: Sequence[Witness] = (),
        environ: Mapping[str, str] = os.environ,
        workers: int = 1,
        production: bool = False,
        keys: Path | None = None,
        log_format: str | None = None,
    ) -> "Settings":
        """Settings from flags (`data_dir`, `witnesses`, `workers`, `storage` overrides) and
        `environ` (PERSISTENCE_MODULE, POSTGRES_*, CARBON_LEDGER_CRYPTO_WORKERS, _BATCH_ITEMS,
        _WAIT_SECONDS, _PRODUCTION, _KEYS); a flag wins over the environment."""
        keys_text = environ.get(KEYS_ENV, "")
        log_format = log_format or environ.get(LOG_FORMAT_ENV) or "json"
        if log_format not in LOG_FORMATS:
            raise ValueError(f"{LOG_FORMAT_ENV} must be json or text, not {log_format!r}")
        return cls(
            data_dir=data_dir,
            storage=storage_env(data_dir, dict(storage or {}), environ),
            witnesses=tuple(witnesses),
            workers=workers,
            crypto_workers=_positive(environ, CRYPTO_WORKERS_ENV, _cores()),
            limits=Limits.build(environ),
            production=production or environ.get(PRODUCTION_ENV, "").lower() in TRUE,
            keys=keys or (Path(keys_text) if keys_text else None),
            log_format=log_format,
            read_storage=_replica(storage_env(data_dir, dict(storage or {}), environ), environ),
        )

    @property
    def postgres(self) -> bool:
        return backend_class(self.storage).name == "postgres"

    def to_json(self) -> str:
        """The settings as one JSON value (for SETTINGS_ENV)."""
        return json.dumps(
            {
                "data_dir": str(self.data_dir),
                "storage": dict(self.storage),
                "witnesses": [witness.text for witness in self.witnesses],
                "workers": self.workers,
                "crypto_workers": self.crypto_workers,
                "limits": msgspec.to_builtins(self.limits),
                "production": self.production,
                "keys": None if self.keys is None else str(self.keys),
                "log_format": self.log_format,
                "read_storage": None if self.read_storage is None else dict(self.read_storage),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        value = json.loads(text)
        return cls(
            data_dir=Path(value["data_dir"]),
            storage=dict(value["storage"]),
            witnesses=tuple(parse_witness(text) for text in value["witnesses"]),
            workers=int(value["workers"]),
            crypto_workers=int(value["crypto_workers"]),
            limits=msgspec.convert(value["limits"], Limits),
            production=bool(value["production"]),
            keys=None if value["keys"] is None else Path(value["keys"]),
            log_format=str(value["log_format"]),
            read_storage=value["read_storage"],
        )
