"""Reading a bundle: one JSON object (statement, evidence) or JSON lines (a whole-log export)."""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from crypto.records import BUNDLE_FORMAT


class BundleError(ValueError):
    pass


@dataclass
class Bundle:
    origin: str
    checkpoints: list[str]
    consistency: list[dict[str, Any]]
    entries: Iterator[dict[str, Any]]
    declared_entries: int | None = None  # an export says how many entries follow
    statement: str | None = None
    benchmark: dict[str, Any] | None = None
    grade: dict[str, Any] | None = None
    map: dict[str, Any] | None = None  # a statement's map head and map proofs
    # each system account's entry after its last in the bundle, where the map's head is newer
    reference_next: dict[str, Any] | None = None
    ledger_keys: list[Any] = field(default_factory=list)  # rotation links to follow
    # an export's: the SHA-256 (hex) of every byte of it read so far, for workers to compare
    digest: Callable[[], str] | None = None


def _from_header(header: dict[str, Any], entries: Iterator[dict[str, Any]]) -> Bundle:
    if not isinstance(header, dict) or header.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"not a {BUNDLE_FORMAT} bundle")
    try:
        return Bundle(
            origin=header["origin"],
            checkpoints=list(header["checkpoints"]),
            consistency=list(header.get("consistency", [])),
            entries=entries,
            declared_entries=header.get("entry_count"),
            statement=header.get("statement"),
            benchmark=header.get("benchmark"),
            grade=header.get("grade"),
            map=header.get("map"),
            reference_next=header.get("reference_next"),
            ledger_keys=list(header.get("ledger_keys", [])),
        )
    except (KeyError, TypeError) as error:
        raise BundleError(f"bundle header lacks {error}") from None


def _lines(path: Path, read: Callable[[bytes], object]) -> Iterator[dict[str, Any]]:
    """An export's entry lines, decoded by msgspec (every worker of an audit reads them all),
    each line's bytes (the header's too) handed to `read`."""
    decode = msgspec.json.Decoder().decode
    with path.open("rb") as file:
        read(next(file))
        for number, line in enumerate(file, start=2):
            read(line)
            if line.strip():
                try:
                    yield decode(line)
                except msgspec.DecodeError as error:  # bad JSON, or an integer too long
                    raise BundleError(f"line {number}: {error}") from None
                except RecursionError:
                    raise BundleError(f"line {number}: nested too deeply") from None


def _reason(error: ValueError) -> str:
    return error.msg if isinstance(error, json.JSONDecodeError) else str(error)


def _entries(header: dict[str, Any]) -> Iterator[dict[str, Any]]:
    entries = header.get("entries", [])
    if not isinstance(entries, list):
        raise BundleError("bundle entries must be a list")
    return iter(entries)


def load_bundle(path: Path) -> Bundle:
    """The bundle in `path`, its entries read lazily for an export."""
    with path.open() as file:
        first = file.readline()
    try:
        header = json.loads(first)
    except RecursionError:
        raise BundleError("not JSON: nested too deeply") from None
    except ValueError:
        try:
            header = json.loads(path.read_text())
        except RecursionError:
            raise BundleError("not JSON: nested too deeply") from None
        except ValueError as error:
            raise BundleError(f"not JSON: {_reason(error)}") from None
        return _from_header(header, _entries(header))
    if not isinstance(header, dict):
        raise BundleError("a bundle is a JSON object")
    if "entries" in header:
        return _from_header(header, _entries(header))
    read = hashlib.sha256()
    bundle = _from_header(header, _lines(path, read.update))
    bundle.digest = read.hexdigest
    return bundle


def bundle_from_object(value: dict[str, Any]) -> Bundle:
    """A bundle already parsed (e.g. an HTTP response body)."""
    return _from_header(value, _entries(value))
