"""C2SP tlog-cosignature (cosignature/v1) and the tlog-witness request/response formats."""

import base64
import hashlib
from dataclasses import replace

import pytest

from crypto.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from crypto.cosignature import (
    CosignatureError,
    cosign,
    cosignature_key_hash,
    cosigned_message,
    cosigner_from_seed,
    count_cosignatures,
    generate_cosigner,
    parse_signature_line,
    parse_witness_signer,
    parse_witness_verifier,
    verify_cosignature,
    verify_cosignatures,
)
from crypto.keys import KeyFormatError, generate_signer, signer_from_seed
from crypto.note import NoteError, split_note
from crypto.witness_protocol import (
    WitnessProtocolError,
    format_add_checkpoint,
    format_cosignatures,
    format_size,
    parse_add_checkpoint,
    parse_cosignatures,
    parse_size,
)

SEED = bytes(range(32))
LOG = signer_from_seed("example.com/log", bytes(32))
CHECKPOINT = Checkpoint("example.com/log", 42, hashlib.sha256(b"root").digest())
BODY = CHECKPOINT.body()
NOTE = sign_checkpoint(CHECKPOINT, LOG)
TIME = 1_700_000_000


def test_key_hash_uses_algorithm_byte_4():
    witness = cosigner_from_seed("witness.example", SEED)
    public = witness.verifier.public_key
    digest = hashlib.sha256(b"witness.example\n\x04" + public).digest()
    assert witness.key_hash == int.from_bytes(digest[:4], "big")
    assert cosignature_key_hash("witness.example", public) == witness.key_hash
    name, hash_, data = witness.verifier.text.split("+", 2)
    assert (name, hash_) == ("witness.example", f"{witness.key_hash:08x}")
    assert base64.b64decode(data) == b"\x04" + public


def test_key_texts_round_trip():
    witness = generate_cosigner("witness.example")
    assert witness.text.startswith("PRIVATE+KEY+witness.example+")
    assert parse_witness_signer(witness.text) == witness
    assert parse_witness_verifier(witness.verifier.text) == witness.verifier


def test_key_texts_refused():
    witness = cosigner_from_seed("witness.example", SEED)
    ordinary = signer_from_seed("witness.example", SEED)  # the same key as type 0x01
    with pytest.raises(KeyFormatError, match="0x01"):
        parse_witness_verifier(ordinary.verifier.text)
    name, hash_, data = witness.verifier.text.split("+", 2)
    with pytest.raises(KeyFormatError, match="does not match"):
        parse_witness_verifier(f"other+{hash_}+{data}")
    with pytest.raises(KeyFormatError, match="PRIVATE"):
        parse_witness_signer(witness.verifier.text)
    with pytest.raises(KeyFormatError):
        parse_witness_verifier(f"{name}+{hash_}+{data[:-4]}")


def test_message_and_line_layout():
    witness = cosigner_from_seed("witness.example", SEED)
    line = cosign(BODY, witness, TIME)
    assert cosigned_message(BODY, TIME) == f"cosignature/v1\ntime {TIME}\n{BODY}".encode()
    assert line.name == "witness.example" and line.key_hash == witness.key_hash
    assert line.signature[:8] == TIME.to_bytes(8, "big") and len(line.signature) == 72
    assert witness.verifier.verify(cosigned_message(BODY, TIME), line.signature[8:])
    assert parse_signature_line(line.line) == line


def test_round_trip_and_refusals():
    witness = generate_cosigner("witness.example")
    line = cosign(BODY, witness, TIME)
    assert verify_cosignature(BODY, line, witness.verifier) == TIME
    other = generate_cosigner("witness.example")
    with pytest.raises(CosignatureError, match="not by witness"):
        verify_cosignature(BODY, line, other.verifier)
    impostor = replace(line, key_hash=other.key_hash)
    with pytest.raises(CosignatureError, match="invalid"):
        verify_cosignature(BODY, impostor, other.verifier)
    tampered = Checkpoint(CHECKPOINT.origin, 43, CHECKPOINT.root_hash).body()
    with pytest.raises(CosignatureError, match="invalid"):
        verify_cosignature(tampered, line, witness.verifier)
    later = replace(line, signature=(TIME + 1).to_bytes(8, "big") + line.signature[8:])
    with pytest.raises(CosignatureError, match="invalid"):
        verify_cosignature(BODY, later, witness.verifier)
    with pytest.raises(CosignatureError, match="8 \\+ 64"):
        verify_cosignature(BODY, replace(line, signature=line.signature[8:]), witness.verifier)


def test_cosign_refuses_non_checkpoints_and_bad_times():
    witness = generate_cosigner("witness.example")
    with pytest.raises(CosignatureError, match="checkpoints only"):
        cosign("just a note\n", witness, TIME)
    with pytest.raises(CosignatureError, match="uint64"):
        cosign(BODY, witness, -1)
    with pytest.raises(CosignatureError, match="uint64"):
        cosign(BODY, witness, 2**64)


def test_cosigned_note_opens_with_the_log_key():
    first, second = generate_cosigner("w1.example"), generate_cosigner("w2.example")
    note = NOTE + cosign(BODY, first, TIME).line + cosign(BODY, second, TIME + 5).line
    checkpoint, opened = open_checkpoint(note, LOG.verifier)
    assert checkpoint == CHECKPOINT
    assert len(opened.verified) == 1 and len(opened.unverified) == 2
    _, cosigned = verify_cosignatures(note, LOG.verifier, [first.verifier, second.verifier])
    assert {(c.witness, c.timestamp) for c in cosigned} == {
        (first.verifier, TIME),
        (second.verifier, TIME + 5),
    }
    _, only = verify_cosignatures(note, LOG.verifier, [second.verifier])
    assert [c.witness for c in only] == [second.verifier]
    assert count_cosignatures(note, [first.verifier, second.verifier]) == 2


def test_forged_cosignature_is_detected():
    witness = generate_cosigner("witness.example")
    real = cosign(BODY, witness, TIME)
    forged = replace(real, signature=real.signature[:8] + bytes(64))
    with pytest.raises(CosignatureError, match="invalid"):
        verify_cosignatures(NOTE + forged.line, LOG.verifier, [witness.verifier])
    with pytest.raises(CosignatureError, match="invalid"):
        count_cosignatures(NOTE + real.line + forged.line, [witness.verifier])
    stranger = generate_cosigner("witness.example")  # same name, other key: not counted
    _, cosigned = verify_cosignatures(
        NOTE + cosign(BODY, stranger, TIME).line, LOG.verifier, [witness.verifier]
    )
    assert cosigned == []


def test_cosignatures_do_not_replace_the_log_signature():
    witness = generate_cosigner("witness.example")
    unsigned = BODY + "\n" + cosign(BODY, witness, TIME).line
    with pytest.raises(ValueError):
        verify_cosignatures(unsigned, LOG.verifier, [witness.verifier])
    with pytest.raises(ValueError):
        open_checkpoint(NOTE, generate_signer("example.com/log").verifier)


def test_add_checkpoint_request_round_trip():
    proof = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    body = format_add_checkpoint(7, proof, NOTE)
    assert body.startswith(b"old 7\n") and b"\n\n" + NOTE.encode() in body
    request = parse_add_checkpoint(body)
    assert (request.old_size, list(request.proof), request.checkpoint) == (7, proof, NOTE)
    empty = parse_add_checkpoint(format_add_checkpoint(0, [], NOTE))
    assert (empty.old_size, empty.proof) == (0, ())


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1\n",
        b"old 1\n\n",
        b"new 1\n\n" + NOTE.encode(),
        b"old 01\n\n" + NOTE.encode(),
        b"old -1\n\n" + NOTE.encode(),
        b"old 1\nAAAA\n\n" + NOTE.encode(),
        b"old 1\nnot base64!\n\n" + NOTE.encode(),
        b"old 1\n" + b"".join([base64.b64encode(bytes(32)) + b"\n"] * 64) + b"\n" + NOTE.encode(),
        b"old 1\n\n\xff",
    ],
)
def test_malformed_requests_refused(body: bytes):
    with pytest.raises(WitnessProtocolError):
        parse_add_checkpoint(body)


def test_responses_round_trip():
    witness = generate_cosigner("witness.example")
    lines = [cosign(BODY, witness, TIME), cosign(BODY, witness, TIME + 1)]
    assert parse_cosignatures(format_cosignatures(lines).encode()) == lines
    assert parse_size(format_size(42).encode()) == 42
    for bad in (b"", b"42", b"042\n", b"x\n"):
        with pytest.raises(WitnessProtocolError):
            parse_size(bad)
    for bad in (b"", b"\n", b"- witness x\n", lines[0].line.encode()[:-1]):
        with pytest.raises(WitnessProtocolError):
            parse_cosignatures(bad)
    with pytest.raises(NoteError):
        parse_signature_line(lines[0].line + lines[1].line)
    assert split_note(NOTE + lines[0].line)[1][1] == lines[0]
