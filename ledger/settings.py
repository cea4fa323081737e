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

from ledger.log.witnessing import Witness, parse_witness
from ledger.storage.factory import backend_class, storage_env

DEFAULT_DATA = Path("data")
SETTINGS_ENV = "CARBON_LEDGER_SETTINGS"
CRYPTO_WORKERS_ENV = "CARBON_LEDGER_CRYPTO_WORKERS"


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _crypto_workers(environ: Mapping[str, str]) -> int:
    """Ed25519 worker processes per writing process: the environment's count, else a core each."""
    text = environ.get(CRYPTO_WORKERS_ENV, "")
    if not text:
        return _cores()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{CRYPTO_WORKERS_ENV} must be a positive integer, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class Settings:
    """A node's data directory, storage (eventsourcing's settings, backend chosen once),
    witnesses and crypto worker count."""

    data_dir: Path = DEFAULT_DATA
    storage: Mapping[str, str] = field(default_factory=dict)
    witnesses: tuple[Witness, ...] = ()
    crypto_workers: int = 1

    @classmethod
    def build(
        cls,
        data_dir: Path = DEFAULT_DATA,
        storage: Mapping[str, str] | None = None,
        witnesses: Sequence[Witness] = (),
        environ: Mapping[str, str] = os.environ,
    ) -> "Settings":
        """Settings from flags (`data_dir`, `witnesses`, `storage` overrides) and `environ`
        (PERSISTENCE_MODULE, POSTGRES_*, CARBON_LEDGER_CRYPTO_WORKERS)."""
        return cls(
            data_dir=data_dir,
            storage=storage_env(data_dir, dict(storage or {}), environ),
            witnesses=tuple(witnesses),
            crypto_workers=_crypto_workers(environ),
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
                "crypto_workers": self.crypto_workers,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        value = json.loads(text)
        return cls(
            data_dir=Path(value["data_dir"]),
            storage=dict(value["storage"]),
            witnesses=tuple(parse_witness(text) for text in value["witnesses"]),
            crypto_workers=int(value["crypto_workers"]),
        )
