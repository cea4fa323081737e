"""Signed notes (crypto/note.py) against the Go vectors and Go's note.Open semantics."""

import base64

import pytest

from crypto.keys import generate_signer, parse_signer, parse_verifier
from crypto.note import (
    MAX_SIGNATURES,
    Note,
    NoteError,
    NoteSignature,
    UnverifiedNoteError,
    add_signatures,
    open_note,
    sign_note,
    split_note,
)
from tests.files import load_vectors

VECTORS = load_vectors("signed-note.json")
TEXT = VECTORS["text"]
SIGNED = VECTORS["signed_note"]
COSIGNED = VECTORS["cosigned_note"]
PETER = parse_verifier(VECTORS["verifier_key"])
ENOCH = parse_verifier(VECTORS["other_verifier_key"])
PETER_SIGNER = parse_signer(VECTORS["signer_key"])
PETER_LINE = SIGNED.removeprefix(TEXT + "\n")
ENOCH_LINE = COSIGNED.removeprefix(SIGNED)
PETER_SIG = split_note(SIGNED)[1][0]
ENOCH_SIG = split_note(COSIGNED)[1][1]


def _edited(note: str, old: str, *news: str) -> list[str]:
    """`note` with `old` replaced by each of `news` in turn."""
    return [note.replace(old, new) for new in news]


def _tamper(line: str) -> str:
    """The signature line with four base64 characters inserted inside the signature."""
    return line[:60] + "ABCD" + line[60:]


def test_signing_the_vector_text_gives_the_vector_note():
    assert sign_note(TEXT, PETER_SIGNER) == SIGNED


def test_open_signed_vector():
    assert open_note(SIGNED, [PETER]) == Note(TEXT, (PETER_SIG,), ())
    assert open_note(SIGNED.encode(), [PETER]) == Note(TEXT, (PETER_SIG,), ())
    assert PETER_SIG.line == PETER_LINE
    assert PETER_SIG.key_id == "PeterNeumann+c74f20a3"


def test_open_cosigned_vector_with_one_known_key():
    assert open_note(COSIGNED, [PETER]) == Note(TEXT, (PETER_SIG,), (ENOCH_SIG,))
    assert open_note(COSIGNED, iter([ENOCH])) == Note(TEXT, (ENOCH_SIG,), (PETER_SIG,))


def test_open_cosigned_vector_with_both_keys():
    assert open_note(COSIGNED, [PETER, ENOCH]) == Note(TEXT, (PETER_SIG, ENOCH_SIG), ())
    assert ENOCH_SIG.line == ENOCH_LINE


def test_no_known_key_is_an_unverified_note_error():
    with pytest.raises(UnverifiedNoteError, match="no verifiable signatures") as raised:
        open_note(COSIGNED, [])
    assert raised.value.note == Note(TEXT, (), (PETER_SIG, ENOCH_SIG))
    assert "PeterNeumann+c74f20a3, EnochRoot+af0cfe78" in str(raised.value)


def test_c2sp_spec_example():
    vkey = parse_verifier("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    note = (
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi"
        "2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    assert open_note(note, [vkey]).text == "This is an example message.\n"


def test_repeated_signatures_as_go():
    """Go: a known key's repeat is skipped; identical unknown lines are kept once."""
    enoch_abcd = split_note(TEXT + "\n" + _tamper(ENOCH_LINE))[1][0]
    lines = PETER_LINE + PETER_LINE + ENOCH_LINE + ENOCH_LINE + _tamper(ENOCH_LINE)
    note = open_note(TEXT + "\n" + lines, [PETER])
    assert note == Note(TEXT, (PETER_SIG,), (ENOCH_SIG, enoch_abcd))
    assert len(split_note(TEXT + "\n" + lines)[1]) == 5


def test_a_repeat_of_a_known_key_is_not_checked_as_go():
    assert open_note(TEXT + "\n" + PETER_LINE + _tamper(PETER_LINE), [PETER]).verified == (
        PETER_SIG,
    )


def test_invalid_signature_by_a_known_key_is_an_error():
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(TEXT + "\n" + _tamper(PETER_LINE), [PETER])
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(COSIGNED.replace("cryptography", "Cryptography"), [ENOCH])


def test_invalid_known_signature_fails_even_after_a_valid_one():
    with pytest.raises(NoteError, match="invalid signature for key EnochRoot"):
        open_note(TEXT + "\n" + PETER_LINE + _tamper(ENOCH_LINE), [PETER, ENOCH])


def test_known_name_with_other_hash_is_an_unknown_key():
    other = NoteSignature("PeterNeumann", PETER.key_hash ^ 1, PETER_SIG.signature)
    note = open_note(TEXT + "\n" + PETER_LINE + other.line, [PETER])
    assert note.unverified == (other,)
    with pytest.raises(UnverifiedNoteError):
        open_note(TEXT + "\n" + other.line, [PETER])


def test_known_hash_with_other_name_is_an_unknown_key():
    other = NoteSignature("PeterNeuman", PETER.key_hash, PETER_SIG.signature)
    with pytest.raises(UnverifiedNoteError):
        open_note(TEXT + "\n" + other.line, [PETER])


def test_ambiguous_verifiers_as_go():
    with pytest.raises(NoteError, match="ambiguous key EnochRoot\\+af0cfe78"):
        open_note(TEXT + "\n" + ENOCH_LINE, [ENOCH, PETER, ENOCH])
    assert open_note(SIGNED, [ENOCH, PETER, ENOCH]).verified == (PETER_SIG,)


def test_at_most_100_signatures():
    assert open_note(TEXT + "\n" + PETER_LINE * MAX_SIGNATURES, [PETER]).verified == (PETER_SIG,)
    for known in ([PETER], []):
        with pytest.raises(NoteError, match="malformed note: more than 100 signatures"):
            open_note(TEXT + "\n" + PETER_LINE * (MAX_SIGNATURES + 1), known)


def test_signature_lengths():
    """Go needs at least 5 bytes (hash and one byte); only a known key then checks the length."""
    short = NoteSignature("EnochRoot", ENOCH.key_hash, b"\x01")
    assert open_note(SIGNED + short.line, [PETER]).unverified == (short,)
    with pytest.raises(NoteError, match="invalid signature for key EnochRoot"):
        open_note(SIGNED + short.line, [PETER, ENOCH])
    four = "— EnochRoot " + base64.b64encode(ENOCH.key_hash.to_bytes(4, "big")).decode() + "\n"
    with pytest.raises(NoteError, match="shorter than 5 bytes"):
        open_note(SIGNED + four, [PETER])


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_LINE[:-1],
        TEXT + PETER_LINE,
        "\x01" + SIGNED,
        SIGNED.replace("you", "you\r"),
        SIGNED.replace("you", "you\t"),
        TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
        "gKvqfqdngotpRZb6KE6RyyBwJnAM=",
        SIGNED + "Unexpected line.\n",
        *_edited(SIGNED, "— ", "- ", "—"),  # the signature line's dash and space
        *_edited(  # the key name and the space after it
            SIGNED,
            "— PeterNeumann ",
            "— PeterNeumann",
            "— PeterNeumann  ",
            "— Peter\u00a0Neumann ",
            "— Peter+Neumann ",
            "—  ",
        ),
        *_edited(SIGNED, "nAM=\n", "nAM\n", "nAM==\n", "nAM= \n"),  # the base64's padding
        SIGNED.replace("x08go/", "x08go_"),
        SIGNED.replace("\n\n", "\n \n"),
        SIGNED + "\n",
        "a\ud800\n" + SIGNED,
    ],
)
def test_malformed_notes(message):
    with pytest.raises(NoteError, match="malformed note"):
        open_note(message, [PETER])
    with pytest.raises(NoteError, match="malformed note"):
        split_note(message)


def test_non_utf8_bytes_are_malformed():
    for bad in (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80"):
        with pytest.raises(NoteError, match="not valid UTF-8"):
            open_note(bad + SIGNED.encode(), [PETER])


def test_texts_with_blank_lines_del_and_dash_lines_round_trip():
    signer = generate_signer("example.com/log")
    for text in ("\n", "a\n\n\nb\n", "x\n\n— not a signature\n", "del\x7f\n", "a\n\n"):
        note = open_note(sign_note(text, signer), [signer.verifier])
        assert note.text == text
        assert note.verified[0].key_id == signer.key_id


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "must end in a newline"),
        ("no newline", "must end in a newline"),
        ("tab\there\n", "control character"),
        ("crlf\r\n", "control character"),
        ("lone \udc80\n", "UTF-8"),
    ],
)
def test_sign_refuses_texts_that_could_not_be_opened(text, reason):
    with pytest.raises(NoteError, match=reason):
        sign_note(text, PETER_SIGNER)


def test_sign_with_several_keys():
    other = generate_signer("example.com/witness")
    note = open_note(sign_note(TEXT, PETER_SIGNER, other), [PETER, other.verifier])
    assert [sig.key_id for sig in note.verified] == [PETER.key_id, other.key_id]
    assert sign_note(TEXT, PETER_SIGNER, other).startswith(SIGNED)


def test_sign_refuses_no_signer_and_repeated_signers():
    with pytest.raises(NoteError, match="no signers"):
        sign_note(TEXT)
    with pytest.raises(NoteError, match="already signed by PeterNeumann\\+c74f20a3"):
        sign_note(TEXT, PETER_SIGNER, PETER_SIGNER)


def test_sign_refuses_more_than_100_signers():
    signers = [generate_signer(f"w{i}") for i in range(MAX_SIGNATURES + 1)]
    assert len(split_note(sign_note(TEXT, *signers[:MAX_SIGNATURES]))[1]) == MAX_SIGNATURES
    with pytest.raises(NoteError, match="at most 100"):
        sign_note(TEXT, *signers)


def test_add_signatures_cosigns_and_keeps_existing_lines():
    witness = generate_signer("example.com/witness")
    cosigned = add_signatures(COSIGNED, witness)
    assert cosigned.startswith(COSIGNED)
    note = open_note(cosigned, [PETER, ENOCH, witness.verifier])
    assert [sig.key_id for sig in note.verified] == [
        PETER.key_id,
        ENOCH.key_id,
        witness.key_id,
    ]
    assert add_signatures(SIGNED, witness) == sign_note(TEXT, PETER_SIGNER, witness)


def test_add_signatures_refuses_a_second_signature_by_a_key():
    with pytest.raises(NoteError, match="already signed by PeterNeumann"):
        add_signatures(COSIGNED, PETER_SIGNER)
    with pytest.raises(NoteError, match="no signers"):
        add_signatures(SIGNED)
    with pytest.raises(NoteError, match="malformed note"):
        add_signatures(TEXT, PETER_SIGNER)


def test_add_signatures_respects_the_limit():
    full = TEXT + "\n" + ENOCH_LINE * MAX_SIGNATURES
    with pytest.raises(NoteError, match="at most 100"):
        add_signatures(full, PETER_SIGNER)
