"""Checkpoints (crypto/checkpoint.py): the C2SP tlog-checkpoint body, strictly, and its signing."""

import base64
import hashlib

import pytest

from crypto.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from crypto.keys import generate_signer
from crypto.note import add_signatures, sign_note, split_note

ROOT = hashlib.sha256(b"root").digest()
ROOT64 = base64.b64encode(ROOT).decode()
LOG = generate_signer("example.com/log")
WITNESS = generate_signer("example.com/witness")
CHECKPOINT = Checkpoint("example.com/log", 20852163, ROOT)


def test_body_format():
    assert CHECKPOINT.body() == f"example.com/log\n20852163\n{ROOT64}\n"
    extended = Checkpoint("o", 0, ROOT, ("ext one", "— two"))
    assert extended.body() == f"o\n0\n{ROOT64}\next one\n— two\n"


def test_c2sp_example_body_parses():
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = parse_checkpoint(body)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        (),
    )
    assert checkpoint.body() == body


@pytest.mark.parametrize(
    "checkpoint",
    [
        CHECKPOINT,
        Checkpoint("o", 0, ROOT),
        Checkpoint("origin with spaces+plus", MAX_TREE_SIZE, bytes(32)),
        Checkpoint("ünïcødé", 1, ROOT, ("a", "b c", "\u00a0")),
    ],
)
def test_parse_format_round_trip(checkpoint):
    assert parse_checkpoint(checkpoint.body()) == checkpoint


def test_extensions_become_a_tuple():
    assert Checkpoint("o", 1, ROOT, ["x"]).extensions == ("x",)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (f"o\n1\n{ROOT64}", "newline"),
        ("", "newline"),
        ("o\n1\n", "origin, a tree size and a root hash"),
        (f"\n1\n{ROOT64}\n", "origin is empty"),
        (f"o\n01\n{ROOT64}\n", "canonical decimal"),
        (f"o\n00\n{ROOT64}\n", "canonical decimal"),
        (f"o\n+1\n{ROOT64}\n", "canonical decimal"),
        (f"o\n-1\n{ROOT64}\n", "canonical decimal"),
        (f"o\n 1\n{ROOT64}\n", "canonical decimal"),
        (f"o\n1_0\n{ROOT64}\n", "canonical decimal"),
        (f"o\n\u0661\n{ROOT64}\n", "canonical decimal"),
        (f"o\n0x1\n{ROOT64}\n", "canonical decimal"),
        (f"o\n\n{ROOT64}\n", "canonical decimal"),
        (f"o\n{MAX_TREE_SIZE + 1}\n{ROOT64}\n", "not a uint64"),
        ("o\n1\n\n", "root hash is 0 bytes"),
        (f"o\n1\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes"),
        (f"o\n1\n{base64.b64encode(ROOT + b'x').decode()}\n", "33 bytes"),
        (f"o\n1\n{ROOT64.rstrip('=')}\n", "not base64"),
        (f"o\n1\n{ROOT64[:-1]}!\n", "not base64"),
        (f"o\n1\n{ROOT64}\n\n", "extension line is empty"),
        (f"o\n1\n{ROOT64}\na\n\nb\n", "extension line is empty"),
        (f"o\x01\n1\n{ROOT64}\n", "control character"),
        (f"o\n1\n{ROOT64}\nx\ry\n", "control character"),
    ],
)
def test_parse_refuses(body, reason):
    with pytest.raises(CheckpointError, match=reason):
        parse_checkpoint(body)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("", 1, ROOT), "origin is empty"),
        (("a\nb", 1, ROOT), "control character"),
        (("o", -1, ROOT), "not a uint64"),
        (("o", True, ROOT), "not a uint64"),
        (("o", 1.0, ROOT), "not a uint64"),
        (("o", 1, ROOT[:16]), "16 bytes"),
        (("o", 1, ROOT, ("",)), "extension line is empty"),
        (("o", 1, ROOT, ("a\nb",)), "control character"),
        (("o\udc80", 1, ROOT), "UTF-8"),
    ],
)
def test_construction_refuses(args, reason):
    with pytest.raises(CheckpointError, match=reason):
        Checkpoint(*args)


def test_sign_and_open():
    note = sign_checkpoint(CHECKPOINT, LOG)
    assert note == CHECKPOINT.body() + "\n" + split_note(note)[1][0].line
    checkpoint, opened = open_checkpoint(note, LOG.verifier, origin="example.com/log")
    assert checkpoint == CHECKPOINT
    assert [sig.key_id for sig in opened.verified] == [LOG.key_id]


def test_witness_cosignatures():
    note = add_signatures(sign_checkpoint(CHECKPOINT, LOG), WITNESS)
    _, opened = open_checkpoint(note, LOG.verifier, witnesses=[WITNESS.verifier])
    assert [sig.key_id for sig in opened.verified] == [LOG.key_id, WITNESS.key_id]
    _, opened = open_checkpoint(note, LOG.verifier)
    assert [sig.key_id for sig in opened.unverified] == [WITNESS.key_id]
    assert sign_checkpoint(CHECKPOINT, LOG, WITNESS) == note


def test_open_requires_the_log_signature():
    by_witness = sign_checkpoint(CHECKPOINT, WITNESS)
    with pytest.raises(CheckpointError, match=r"not signed by the log key example\.com/log"):
        open_checkpoint(by_witness, LOG.verifier, witnesses=[WITNESS.verifier])
    with pytest.raises(CheckpointError, match="no verifiable signatures"):
        open_checkpoint(by_witness, LOG.verifier)


def test_open_refuses_a_bad_signature_by_log_or_witness():
    note = sign_checkpoint(CHECKPOINT, LOG, WITNESS)
    tampered = note.replace("20852163", "20852164")
    with pytest.raises(CheckpointError, match=r"invalid signature for key example\.com/log"):
        open_checkpoint(tampered, LOG.verifier)
    forged = sign_checkpoint(Checkpoint("example.com/log", 1, ROOT), LOG)
    fake_witness = split_note(sign_checkpoint(CHECKPOINT, WITNESS))[1][0].line
    with pytest.raises(CheckpointError, match=r"invalid signature for key example\.com/witness"):
        open_checkpoint(forged + fake_witness, LOG.verifier, witnesses=[WITNESS.verifier])


def test_open_checks_the_origin():
    note = sign_checkpoint(CHECKPOINT, LOG)
    with pytest.raises(CheckpointError, match=r"origin 'example\.com/log' is not 'example\.com/"):
        open_checkpoint(note, LOG.verifier, origin="example.com/other")


def test_open_refuses_a_signed_note_that_is_no_checkpoint():
    with pytest.raises(CheckpointError, match="canonical decimal"):
        open_checkpoint(sign_note("example.com/log\n012\nroot\n", LOG), LOG.verifier)
    with pytest.raises(CheckpointError, match="malformed note"):
        open_checkpoint(CHECKPOINT.body(), LOG.verifier)
