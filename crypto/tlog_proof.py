"""C2SP tlog-proof (c2sp.org/tlog-proof@v1): an entry's index, its RFC 6962 inclusion proof
and the checkpoint (with any cosignatures) it is proven in, offline-verifiable.

    c2sp.org/tlog-proof@v1
    extra <base64>          (optional)
    index <decimal>
    <base64 hash>           (zero or more: the proof, from the leaf's sibling up)

    <checkpoint note, verbatim>

Carbon Ledger puts the entry's own bytes in `extra`, so a proof file is the entry and its
proof together: the leaf hash is computed from them, which is what binds the untrusted
extra data (the spec's step 1, "compute the leaf hash", is ours to define).
"""

import base64
import binascii
import re
from dataclasses import dataclass

from crypto.checkpoint import Checkpoint
from crypto.merkle import HASH_SIZE, ProofError, leaf_hash, verify_inclusion
from crypto.policy import Policy
from crypto.records import Receipt

HEADER = "c2sp.org/tlog-proof@v1"
SUFFIX = ".tlog-proof"
_INDEX = re.compile(r"index (0|[1-9][0-9]*)")


class TlogProofError(ValueError):
    """Text that is not a c2sp.org/tlog-proof@v1 proof, or one that does not verify."""


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim
    extra: bytes | None = None

    def text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    def verify(self, policy: Policy, data: bytes | None = None) -> Checkpoint:
        """The checkpoint, once the policy accepts it and the leaf of `data` (default: the
        extra data) is proven at `index` in it; TlogProofError or QuorumError otherwise."""
        leaf_data = self.extra if data is None else data
        if leaf_data is None:
            raise TlogProofError("no leaf data: the proof has no extra line and none was given")
        checkpoint, _ = policy.check(self.checkpoint)
        try:
            verify_inclusion(
                self.index,
                checkpoint.size,
                leaf_hash(leaf_data),
                list(self.proof),
                checkpoint.root_hash,
            )
        except ProofError as error:
            raise TlogProofError(f"inclusion: {error}") from None
        return checkpoint


def receipt_proof(receipt: Receipt) -> TlogProof:
    """A proven receipt as a tlog-proof: its index, proof and checkpoint, its entry as extra."""
    if receipt.index is None or receipt.inclusion is None or receipt.checkpoint is None:
        raise TlogProofError("the receipt carries no inclusion proof yet")
    proof = tuple(bytes.fromhex(h) for h in receipt.inclusion)
    return TlogProof(receipt.index, proof, receipt.checkpoint, receipt.entry)


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise TlogProofError(f"{what} is not standard base64: {text[:40]!r}") from None


def parse_tlog_proof(text: str) -> TlogProof:
    """The proof in `text`; TlogProofError naming what is wrong otherwise."""
    head, separator, checkpoint = text.partition("\n\n")
    if not separator or not checkpoint:
        raise TlogProofError("no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise TlogProofError(f"the first line is not {HEADER}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _base64(rest[0].removeprefix("extra "), "extra")
        rest = rest[1:]
    if not rest or not _INDEX.fullmatch(rest[0]):
        raise TlogProofError("no index line (index <decimal, no leading zeroes>)")
    proof = tuple(_base64(line, "a proof hash") for line in rest[1:])
    if any(len(h) != HASH_SIZE for h in proof):
        raise TlogProofError(f"a proof hash is not {HASH_SIZE} bytes")
    return TlogProof(int(rest[0].removeprefix("index ")), proof, checkpoint, extra)
