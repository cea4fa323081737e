"""Interoperability with Go's golang.org/x/mod/sumdb/note (and tlog tree notes), both ways.

The Go side is tests/interop/notetool, built once per session by tests/gotools.py (which
says what it needs, and when the tests skip).
"""

import base64
import json
import subprocess
from collections.abc import Callable

import pytest

from crypto.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from crypto.keys import KeyFormatError, generate_signer, parse_signer, parse_verifier
from crypto.note import NoteError, add_signatures, open_note, sign_note
from tests.files import load_vectors
from tests.gotools import build_tool

VECTORS = load_vectors("signed-note.json")
TEXT = VECTORS["text"]
PETER_LINE = VECTORS["signed_note"].removeprefix(TEXT + "\n")
ENOCH_LINE = VECTORS["cosigned_note"].removeprefix(VECTORS["signed_note"])
ROOT = bytes(range(32))
PETER, ENOCH = VECTORS["verifier_key"], VECTORS["other_verifier_key"]
SHORT_LINE = "— EnochRoot rwz+eBw=\n"  # the key hash and a single signature byte

Tool = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="session")
def go(tmp_path_factory: pytest.TempPathFactory) -> Tool:
    """Build notetool once; return a runner `go(*args, stdin=...)`."""
    notetool = build_tool("notetool", tmp_path_factory)

    def run(*args: str, stdin: str | bytes = b"") -> subprocess.CompletedProcess[bytes]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return subprocess.run([notetool, *args], input=data, capture_output=True)

    return run


def _ok(result: subprocess.CompletedProcess[bytes]) -> str:
    """The output of a notetool run that must succeed."""
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _go_open(go: Tool, message: str | bytes, *vkeys: str) -> dict | None:
    """Go's note.Open result as {text, sigs, unverified}, signatures decoded; None if refused."""
    result = go("open", *vkeys, stdin=message)
    if result.returncode != 0:
        return None
    opened = json.loads(result.stdout)

    def sigs(key: str) -> list[tuple[str, int, bytes]]:
        return [(s["name"], s["hash"], base64.b64decode(s["base64"])[4:]) for s in opened[key]]

    return {"text": opened["text"], "sigs": sigs("sigs"), "unverified": sigs("unverified")}


def _python_open(message: str | bytes, *vkeys: str) -> dict | None:
    """open_note's result in _go_open's form, None if refused."""
    try:
        note = open_note(message, [parse_verifier(vkey) for vkey in vkeys])
    except NoteError:
        return None

    def sigs(found: tuple) -> list[tuple[str, int, bytes]]:
        return [(s.name, s.key_hash, s.signature) for s in found]

    return {"text": note.text, "sigs": sigs(note.verified), "unverified": sigs(note.unverified)}


def test_go_keys_parse_in_python(go):
    skey, vkey = _ok(go("generate", "example.com/go-log")).splitlines()
    signer = parse_signer(skey)
    assert signer.verifier == parse_verifier(vkey)
    assert (signer.text, signer.verifier.text) == (skey, vkey)


def test_python_keys_parse_in_go(go):
    signer = generate_signer("example.com/python-log")
    _ok(go("skey", signer.text))
    _ok(go("vkey", signer.verifier.text))


def test_python_note_opens_in_go_and_signs_identically(go):
    signer = generate_signer("example.com/python-log")
    text = "ünïcødé \x7f\n\nwith a blank line\n— and a dash line\n"
    signed = sign_note(text, signer)
    assert _ok(go("sign", signer.text, stdin=text)) == signed
    opened = _go_open(go, signed, signer.verifier.text)
    assert opened == _python_open(signed, signer.verifier.text)
    assert opened is not None
    assert opened["text"] == text


def test_go_note_opens_in_python(go):
    skey, vkey = _ok(go("generate", "example.com/go-log")).splitlines()
    signed = _ok(go("sign", skey, stdin=TEXT))
    note = open_note(signed, [parse_verifier(vkey)])
    assert note.text == TEXT
    assert [sig.key_id for sig in note.verified] == [parse_verifier(vkey).key_id]


def test_note_cosigned_by_go_opens_in_python(go):
    log = generate_signer("example.com/log")
    witness_skey, witness_vkey = _ok(go("generate", "example.com/witness")).splitlines()
    cosigned = _ok(go("cosign", log.verifier.text, witness_skey, stdin=sign_note(TEXT, log)))
    note = open_note(cosigned, [log.verifier, parse_verifier(witness_vkey)])
    assert [sig.name for sig in note.verified] == ["example.com/log", "example.com/witness"]


def test_note_cosigned_by_python_opens_in_go(go):
    log_skey, log_vkey = _ok(go("generate", "example.com/log")).splitlines()
    witness = generate_signer("example.com/witness")
    cosigned = add_signatures(_ok(go("sign", log_skey, stdin=TEXT)), witness)
    assert _ok(go("sign", log_skey, witness.text, stdin=TEXT)) == cosigned
    opened = _go_open(go, cosigned, log_vkey, witness.verifier.text)
    assert opened is not None
    assert [name for name, _, _ in opened["sigs"]] == ["example.com/log", "example.com/witness"]


def test_python_checkpoint_opens_in_go(go):
    log = generate_signer("example.com/log")
    checkpoint = Checkpoint("example.com/log", 20852163, ROOT, ("extension",))
    opened = _go_open(go, sign_checkpoint(checkpoint, log), log.verifier.text)
    assert opened is not None
    assert opened["text"] == checkpoint.body()


def test_python_checkpoint_is_a_go_tlog_tree(go):
    log = generate_signer("sum.golang.org")
    note = sign_checkpoint(Checkpoint("go.sum database tree", 12345, ROOT), log)
    tree = _ok(go("opentree", log.verifier.text, stdin=note))
    assert tree == f"12345 {base64.b64encode(ROOT).decode()}\n"


def test_go_tlog_tree_is_a_python_checkpoint(go):
    skey, vkey = _ok(go("generate", "example.com/go-log")).splitlines()
    note = _ok(go("tree", skey, "12345", base64.b64encode(ROOT).decode()))
    checkpoint, _ = open_checkpoint(note, parse_verifier(vkey), origin="go.sum database tree")
    assert checkpoint == Checkpoint("go.sum database tree", 12345, ROOT)


@pytest.mark.parametrize(
    ("message", "vkeys"),
    [
        (VECTORS["cosigned_note"], [PETER]),
        (VECTORS["cosigned_note"], [PETER, ENOCH]),
        (VECTORS["cosigned_note"], []),
        (VECTORS["cosigned_note"], [ENOCH, PETER, ENOCH]),
        (VECTORS["signed_note"], [ENOCH, PETER, ENOCH]),
        (TEXT + "\n" + PETER_LINE * 2 + ENOCH_LINE * 2, [PETER]),
        (TEXT + "\n" + PETER_LINE * 100, [PETER]),
        (TEXT + "\n" + PETER_LINE * 101, [PETER]),
        (TEXT + "\n" + PETER_LINE[:60] + "ABCD" + PETER_LINE[60:], [PETER]),
        (TEXT + "\n" + PETER_LINE + ENOCH_LINE[:60] + "ABCD" + ENOCH_LINE[60:], [PETER]),
        (TEXT + "\n" + PETER_LINE + PETER_LINE[:60] + "ABCD" + PETER_LINE[60:], [PETER]),
        (VECTORS["signed_note"] + SHORT_LINE, [PETER]),
        (VECTORS["signed_note"] + SHORT_LINE, [PETER, ENOCH]),
        (VECTORS["signed_note"] + "— EnochRoot rwz+eA==\n", [PETER]),
        (VECTORS["signed_note"] + "— Enoch\u200bRoot rwz+eBw=\n", [PETER]),
        (VECTORS["signed_note"] + "— Enoch\u2028Root rwz+eBw=\n", [PETER]),
        (VECTORS["signed_note"] + "— Enoch\u00a0Root rwz+eBw=\n", [PETER]),
        (VECTORS["signed_note"] + "— EnochRoot rwz+eBw\n", [PETER]),
        (VECTORS["signed_note"] + "— EnochRoot rwz+eBx=\n", [PETER]),
        (VECTORS["signed_note"].replace("you", "y\x7fou"), [PETER]),
        (VECTORS["signed_note"].replace("you", "y\rou"), [PETER]),
        (VECTORS["signed_note"].replace("\n\n", "\n\n\n"), [PETER]),
        (b"\xff" + VECTORS["signed_note"].encode(), [PETER]),
        (TEXT, [PETER]),
        (TEXT + "\n", [PETER]),
        (VECTORS["signed_note"] + "\n", [PETER]),
        (VECTORS["signed_note"].replace("— ", "—"), [PETER]),
        (VECTORS["signed_note"].replace("PeterNeumann", "PeterNeumann "), [PETER]),
    ],
)
def test_open_agrees_with_go(go, message, vkeys):
    """Python and Go accept and refuse the same notes, with the same signatures."""
    assert _python_open(message, *vkeys) == _go_open(go, message, *vkeys)


@pytest.mark.parametrize(
    "vkey",
    [
        PETER,
        PETER.replace("c74f20a3", "C74F20A3"),
        *VECTORS["bad_keys"],
        PETER[:-1],
        PETER + "=",
        PETER.replace("c74f20a3", "c74f20a4"),
        PETER.replace("+c74f20a3", "+0c74f20a3"),
        PETER.replace("+c74f20a3", "+ c74f20a"),
        "Peter\u00a0Neumann" + PETER.removeprefix("PeterNeumann"),
        "",
        "+",
        "++",
    ],
)
def test_verifier_keys_agree_with_go(go, vkey):
    try:
        parse_verifier(vkey)
        python_accepts = True
    except KeyFormatError:
        python_accepts = False
    assert python_accepts == (go("vkey", vkey).returncode == 0)
