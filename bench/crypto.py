"""Throughput of the ledger's cryptographic primitives, in items per second.

Run from the project root, without installing: `python bench/crypto.py [--n 100000]`.
Each row times n items with time.perf_counter; inputs are built before the clock starts.
"""

import argparse
import base64
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The project root, ahead of this script's own directory (where `crypto` would be this file).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cryptography
import msgspec
from cryptography.hazmat.backends.openssl.backend import backend as openssl

from crypto.canonical import canonical_json
from crypto.keys import Signer, generate_signer
from crypto.merkle import (
    MemoryHashStore,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from crypto.records import encode_entry, submission_message

SEED = 20261125

Row = tuple[str, int, float]  # label, items, seconds


def cpu_model() -> str:
    """The first `model name` in /proc/cpuinfo, or what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def submission(key_id: str, i: int) -> dict[str, Any]:
    """A realistic personal green-behaviour submission, distinct for each i."""
    return {
        "account": "per:abc-quzhou:" + "p4xkq7m2r9tb" * 4 + "abcd",  # a 52-char pseudonym
        "type": "GreenBehaviourRecorded",
        "data": {
            "behaviour": "online_payment",
            "count": 3,
            "on": "2026-11-25",
            "ref": f"TXN-20261125-{i:08d}",
        },
        "key": key_id,
        "at": "2026-11-25T09:41:27.318204Z",
        "id": f"abc-quzhou-20261125-{i:08d}",
    }


def timed(label: str, n: int, run: Callable[[], object]) -> Row:
    """Run `run` once (it handles n items) and return (label, n, seconds)."""
    start = time.perf_counter()
    run()
    return label, n, time.perf_counter() - start


def bench_ed25519(n: int, signer: Signer, rows: list[Row]) -> bytes:
    """Sign and verify the exact bytes of n distinct submissions; return one signature."""
    verifier = signer.verifier
    messages = [submission_message(submission(signer.key_id, i)) for i in range(n)]
    signatures: list[bytes] = []
    rows.append(
        timed("Ed25519 sign", n, lambda: signatures.extend(signer.sign(m) for m in messages))
    )

    def verify_all() -> None:
        for m, s in zip(messages, signatures, strict=True):
            if not verifier.verify(m, s):
                raise AssertionError("signature did not verify")

    rows.append(timed("Ed25519 verify", n, verify_all))
    return signatures[0]


def bench_canonical_json(n: int, key_id: str, signature: bytes, rows: list[Row]) -> None:
    """Encode one typical ledger entry n times."""
    sub = submission(key_id, 0)
    fields = {
        "account": sub["account"],
        "seq": 41,
        "prev": leaf_hash(b"previous entry").hex(),
        "submission": msgspec.Raw(canonical_json(sub)),
        "signature": base64.b64encode(signature).decode(),
        "effect": {"counted": 3, "co2e_g": 15, "points": 15, "rules": "personal-factors@1"},
        "recorded_at": "2026-11-25T09:41:27.402911Z",
    }
    entry_size = len(encode_entry(**fields))

    def encode_all() -> None:
        for _ in range(n):
            encode_entry(**fields)

    rows.append(timed(f"canonical_json entry ({entry_size} B)", n, encode_all))


def bench_merkle(n: int, rng: random.Random, rows: list[Row]) -> None:
    """n single appends, then n proofs of each kind against the n-leaf tree."""
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]
    tree = MerkleTree(MemoryHashStore())

    def append_all() -> None:
        for h in leaves:
            tree.append(h)

    rows.append(timed("Merkle append (one at a time)", n, append_all))
    root = tree.root()

    indexes = [rng.randrange(n) for _ in range(n)]
    proofs: list[list[bytes]] = []
    rows.append(
        timed(
            f"inclusion proof gen (size {n})",
            n,
            lambda: proofs.extend(tree.inclusion_proof(i, n) for i in indexes),
        )
    )

    def verify_inclusions() -> None:
        for i, proof in zip(indexes, proofs, strict=True):
            verify_inclusion(i, n, leaves[i], proof, root)

    rows.append(timed("inclusion proof verify", n, verify_inclusions))
    proofs.clear()

    # Random pairs of sizes 1 <= first < second <= n; roots are computed before timing.
    pairs = [tuple(sorted(rng.sample(range(1, n + 1), 2))) for _ in range(n)]
    roots = {size: tree.root(size) for pair in pairs for size in pair}
    consistency: list[list[bytes]] = []
    rows.append(
        timed(
            "consistency proof gen",
            n,
            lambda: consistency.extend(tree.consistency_proof(a, b) for a, b in pairs),
        )
    )

    def verify_consistencies() -> None:
        for (a, b), proof in zip(pairs, consistency, strict=True):
            verify_consistency(a, b, roots[a], roots[b], proof)

    rows.append(timed("consistency proof verify", n, verify_consistencies))
    consistency.clear()

    def round_trip() -> None:
        for a, b in pairs:
            verify_consistency(a, b, roots[a], roots[b], tree.consistency_proof(a, b))

    rows.append(timed("consistency proof gen+verify", n, round_trip))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="items per row (default 100000)")
    n = parser.parse_args(argv).n
    if n < 2:
        parser.error("--n must be at least 2")

    print(f"Python {platform.python_version()} ({platform.python_implementation()})")
    print(f"CPU    {cpu_model()}")
    print(f"Crypto cryptography {cryptography.__version__}, {openssl.openssl_version_text()}")
    print()

    rows: list[Row] = []
    signer = generate_signer("abc-quzhou-bank")
    signature = bench_ed25519(n, signer, rows)
    bench_canonical_json(n, signer.key_id, signature, rows)
    bench_merkle(n, random.Random(SEED), rows)

    width = max(len(label) for label, _, _ in rows)
    print(f"{'operation':<{width}}  {'n':>9}  {'seconds':>9}  {'items/s':>11}")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 9}  {'-' * 11}")
    for label, count, seconds in rows:
        print(f"{label:<{width}}  {count:>9,}  {seconds:>9.3f}  {count / seconds:>11,.0f}")


if __name__ == "__main__":
    main()
