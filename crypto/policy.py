"""C2SP tlog-policy (c2sp.org/tlog-policy): the logs a verifier accepts, the witnesses it
knows and the quorum of their cosignatures that makes a checkpoint valid.

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <name>...
    quorum <name>|none

Lines end in a newline; fields are separated by runs of spaces and tabs; blank lines and
lines starting with `#` are ignored; the only control characters allowed are tab and
newline. A group or the quorum names only witnesses and groups defined on earlier lines,
each member at most once; `none` is predefined (no cosignature needed) and is no member.
Exactly one quorum line. No two logs, and no two witnesses, share a public key. Names are
opaque octets (kept here as UTF-8 with surrogate escapes).
"""

import re
from dataclasses import dataclass, field

from crypto.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_of,
    open_checkpoint,
)
from crypto.cosignature import (
    CosignatureError,
    CosignatureVerifier,
    cosignatures,
    parse_witness_verifier,
)
from crypto.keys import KeyFormatError, Verifier, parse_verifier
from crypto.note import NoteError

NONE = "none"
MAX_ITEMS = 1024  # logs, witnesses and groups each: far past the spec's recommended 32
_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")  # control characters but tab, newline
_FIELDS = re.compile(r"[ \t]+")
_THRESHOLD = re.compile(r"[1-9][0-9]*")


class PolicyError(ValueError):
    """A policy file that does not follow c2sp.org/tlog-policy."""


class QuorumError(ValueError):
    """A checkpoint the policy does not accept: no known log signed it, or too few witnesses."""


@dataclass(frozen=True)
class Group:
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    logs: tuple[Verifier, ...]
    witnesses: dict[str, CosignatureVerifier] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    quorum: str = NONE

    @classmethod
    def every(cls, log: Verifier, witnesses: list[CosignatureVerifier]) -> "Policy":
        """One log, and every one of these witnesses must cosign (`group all`)."""
        named = {f"w{number}": witness for number, witness in enumerate(witnesses)}
        if not named:
            return cls((log,))
        return cls((log,), named, {"all": Group(len(named), tuple(named))}, "all")

    def witnessed(self, name: str, cosigned: set[str]) -> bool:
        """Whether the witness or group `name` has witnessed, given who cosigned."""
        if name == NONE:
            return True
        group = self.groups.get(name)
        if group is None:
            return name in cosigned
        count = sum(self.witnessed(member, cosigned) for member in group.members)
        return count >= group.threshold

    def log_for(self, origin: str) -> Verifier:
        """The log key for checkpoints of `origin`: the one whose key name is the origin."""
        for log in self.logs:
            if log.name == origin:
                return log
        raise QuorumError(f"the policy has no log for origin {origin!r}")

    def check(self, note: str, log_key: Verifier | None = None) -> tuple[Checkpoint, set[str]]:
        """The checkpoint in `note` if a listed log signed it (or `log_key`, the key a
        rotation of the listed one made it) and the quorum cosigned it, with the names of the
        witnesses that did; QuorumError otherwise."""
        try:
            origin = checkpoint_of(note).origin
            key = log_key or self.log_for(origin)
            checkpoint, _ = open_checkpoint(note, key, origin=origin)
            names = {witness.key_id: name for name, witness in self.witnesses.items()}
            found = cosignatures(note, self.witnesses.values())
        except (CheckpointError, NoteError, CosignatureError) as error:
            raise QuorumError(str(error)) from None
        cosigned = {names[c.witness.key_id] for c in found}
        if not self.witnessed(self.quorum, cosigned):
            raise QuorumError(
                f"quorum {self.quorum!r} not met: cosigned by {sorted(cosigned) or 'none'}"
            )
        return checkpoint, cosigned


def _decoded(text: bytes | str) -> list[str]:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    bad = _FORBIDDEN.search(data)
    if bad:
        raise PolicyError(f"control character {bad.group()!r} at byte {bad.start()}")
    return data.decode("utf-8", "surrogateescape").split("\n")


class _Parser:
    def __init__(self) -> None:
        self.logs: list[Verifier] = []
        self.witnesses: dict[str, CosignatureVerifier] = {}
        self.groups: dict[str, Group] = {}
        self.quorum: str | None = None

    def line(self, fields: list[str]) -> None:
        keyword, rest = fields[0], fields[1:]
        if keyword == "log" and len(rest) in (1, 2):
            self._log(rest[0])
        elif keyword == "witness" and len(rest) in (2, 3):
            self._witness(rest[0], rest[1])
        elif keyword == "group" and len(rest) >= 3:
            self._group(rest[0], rest[1], rest[2:])
        elif keyword == "quorum" and len(rest) == 1:
            if self.quorum is not None:
                raise PolicyError("a second quorum line")
            self._defined(rest[0], allow_none=True)
            self.quorum = rest[0]
        else:
            raise PolicyError(f"not a log, witness, group or quorum line: {' '.join(fields)!r}")

    def _log(self, vkey: str) -> None:
        try:
            log = parse_verifier(vkey)
        except KeyFormatError as error:
            raise PolicyError(f"log key: {error}") from None
        if any(known.public_key == log.public_key for known in self.logs):
            raise PolicyError(f"log {log.name} is listed twice")
        self.logs.append(log)
        self._limit(len(self.logs), "logs")

    def _witness(self, name: str, vkey: str) -> None:
        self._new_name(name)
        try:
            witness = parse_witness_verifier(vkey)
        except KeyFormatError as error:
            raise PolicyError(f"witness {name}: {error}") from None
        if any(known.public_key == witness.public_key for known in self.witnesses.values()):
            raise PolicyError(f"witness {name}'s key is listed twice")
        self.witnesses[name] = witness
        self._limit(len(self.witnesses), "witnesses")

    def _group(self, name: str, threshold: str, members: list[str]) -> None:
        self._new_name(name)
        if len(set(members)) != len(members):
            raise PolicyError(f"group {name} lists a member twice")
        for member in members:
            self._defined(member, allow_none=False)
        if threshold == "all":
            k = len(members)
        elif threshold == "any":
            k = 1
        elif _THRESHOLD.fullmatch(threshold) and int(threshold) <= len(members):
            k = int(threshold)
        else:
            raise PolicyError(f"group {name}: threshold {threshold!r} is not all, any or 1..n")
        self.groups[name] = Group(k, tuple(members))
        self._limit(len(self.groups), "groups")

    def _new_name(self, name: str) -> None:
        if name == NONE or name in self.witnesses or name in self.groups:
            raise PolicyError(f"the name {name!r} is taken")

    def _defined(self, name: str, allow_none: bool) -> None:
        if name == NONE and allow_none:
            return
        if name not in self.witnesses and name not in self.groups:
            raise PolicyError(f"{name!r} is not a witness or group defined above")

    @staticmethod
    def _limit(count: int, what: str) -> None:
        if count > MAX_ITEMS:
            raise PolicyError(f"more than {MAX_ITEMS} {what}")


def parse_policy(text: bytes | str) -> Policy:
    """The policy a tlog-policy file states; PolicyError naming the line otherwise."""
    parser = _Parser()
    for number, line in enumerate(_decoded(text), start=1):
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        try:
            parser.line(_FIELDS.split(stripped))
        except PolicyError as error:
            raise PolicyError(f"line {number}: {error}") from None
    if parser.quorum is None:
        raise PolicyError("no quorum line")
    return Policy(tuple(parser.logs), parser.witnesses, parser.groups, parser.quorum)
