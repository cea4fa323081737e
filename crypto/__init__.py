"""Formats and proofs: canonical JSON, keys, notes, Merkle trees, checkpoints. No I/O."""
