"""Note keys (crypto/keys.py) against the Go vectors, and the `carbon-ledger keys` commands."""

import argparse
import base64
import hashlib
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.keys import (
    KeyFormatError,
    Signer,
    Verifier,
    check_key_name,
    generate_signer,
    key_hash,
    parse_signer,
    parse_verifier,
)
from tests.files import load_vectors
from tools.keys import add_keys_commands

VECTORS = load_vectors("signed-note.json")
SKEY = VECTORS["signer_key"]
VKEY = VECTORS["verifier_key"]
TEXT = VECTORS["text"]


def _vkey(name: str, data: bytes) -> str:
    """A verifier key text for `data` (algorithm byte included) with a correct hash."""
    hash_ = int.from_bytes(hashlib.sha256(name.encode() + b"\n" + data).digest()[:4], "big")
    return f"{name}+{hash_:08x}+{base64.b64encode(data).decode()}"


def test_vector_keys_parse_and_match():
    signer, verifier = parse_signer(SKEY), parse_verifier(VKEY)
    assert signer.verifier == verifier
    assert (verifier.name, verifier.key_hash) == ("PeterNeumann", 0xC74F20A3)
    assert verifier.key_id == signer.key_id == "PeterNeumann+c74f20a3"
    assert key_hash("PeterNeumann", verifier.public_key) == 0xC74F20A3
    assert (verifier.text, signer.text) == (VKEY, SKEY)
    assert parse_verifier(VECTORS["other_verifier_key"]).key_id == "EnochRoot+af0cfe78"


def test_key_hash_is_sha256_of_name_newline_alg_key():
    public = bytes(range(32))
    digest = hashlib.sha256(b"example.com/log\n\x01" + public).digest()
    assert key_hash("example.com/log", public) == int.from_bytes(digest[:4], "big")


@pytest.mark.parametrize("bad", VECTORS["bad_keys"])
def test_vector_bad_keys_are_refused(bad):
    with pytest.raises(KeyFormatError, match=r"32|algorithm"):
        parse_verifier(bad)


def test_bad_key_reasons():
    with pytest.raises(KeyFormatError, match="is 36 bytes, not 32"):
        parse_verifier(VECTORS["bad_keys"][0])
    with pytest.raises(KeyFormatError, match="unknown verifier key algorithm 0x65"):
        parse_verifier(VECTORS["bad_keys"][1])


@pytest.mark.parametrize("text", [VKEY, SKEY])
def test_every_mangling_is_refused(text):
    """Go's TestNewVerifier/TestNewSigner: every proper substring and one-byte change fails."""
    parse = parse_signer if text.startswith("PRIVATE") else parse_verifier
    manglings = [text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)]
    manglings.remove(text)
    manglings += [text[:i] + chr(ord(text[i]) + 1) + text[i + 1 :] for i in range(len(text))]
    for mangled in manglings:
        with pytest.raises(KeyFormatError):
            parse(mangled)


def test_other_algorithm_with_right_hash_is_refused():
    other = _vkey("PeterNeumann", b"\x02" + parse_verifier(VKEY).public_key)
    with pytest.raises(KeyFormatError, match="algorithm 0x02"):
        parse_verifier(other)


def test_wrong_hash_is_refused():
    with pytest.raises(KeyFormatError, match=r"does not match .* \(expected c74f20a3\)"):
        parse_verifier(VKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(KeyFormatError, match="does not match"):
        parse_signer(SKEY.replace("c74f20a3", "00000000"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+0xc74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f_0a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+ c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
        " PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        SKEY,
    ],
)
def test_malformed_verifier_keys(text):
    with pytest.raises(KeyFormatError, match="verifier key"):
        parse_verifier(text)


def test_verifier_key_is_not_a_signer_key():
    with pytest.raises(KeyFormatError, match="PRIVATE\\+KEY"):
        parse_signer(VKEY)


def test_uppercase_hash_is_accepted_like_go():
    verifier = parse_verifier(VKEY.replace("c74f20a3", "C74F20A3"))
    assert verifier == parse_verifier(VKEY)
    assert verifier.text == VKEY


@pytest.mark.parametrize(
    "name",
    ["", "a+b", "a b", "a\tb", "a\nb", "a\u00a0b", "a\u0085b", "a\u2003b", "a\u2028b", "\u3000"],
)
def test_bad_key_names(name):
    with pytest.raises(KeyFormatError, match="key name"):
        check_key_name(name)


@pytest.mark.parametrize("name", ["example.com/log", "ünïcødé", "a\u200bb", "a\x1cb", "-"])
def test_names_go_accepts(name):
    """Go's unicode.IsSpace is the White_Space property: U+200B and U+001C are not spaces."""
    check_key_name(name)


def test_name_that_is_not_utf8():
    with pytest.raises(KeyFormatError, match="UTF-8"):
        check_key_name("a\udc80")


def test_generated_signer_round_trips():
    signer = generate_signer("example.com/log")
    assert parse_signer(signer.text) == signer
    assert parse_verifier(signer.verifier.text) == signer.verifier
    signature = signer.sign(b"hello\n")
    assert len(signature) == 64
    assert signer.verifier.verify(b"hello\n", signature)
    assert not signer.verifier.verify(b"hullo\n", signature)
    assert not signer.verifier.verify(b"hello\n", signature[:63])
    assert generate_signer("example.com/log").seed != signer.seed


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\x01b"])
def test_generate_refuses_bad_names(name):
    with pytest.raises(KeyFormatError):
        generate_signer(name)


def test_direct_construction_is_checked():
    verifier = parse_verifier(VKEY)
    with pytest.raises(KeyFormatError, match="does not match"):
        Verifier("PeterNeumann", 1, verifier.public_key)
    with pytest.raises(KeyFormatError, match="31 bytes"):
        Verifier("PeterNeumann", 1, verifier.public_key[:31])
    with pytest.raises(KeyFormatError, match="does not match"):
        Signer("EnochRoot", 0xC74F20A3, parse_signer(SKEY).seed)


def test_signer_repr_hides_the_seed():
    signer = parse_signer(SKEY)
    assert signer.seed.hex() not in repr(signer)
    assert repr(signer.seed) not in repr(signer)


# The `carbon-ledger keys` commands, through a parser like tools/cli.py's.


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="carbon-ledger")
    add_keys_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["keys", *argv])
    return args.func(args)


def test_cli_generate_writes_0600_and_prints_vkey(tmp_path, capsys):
    out = tmp_path / "log.key"
    assert _run("generate", "example.com/log", "--out", str(out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    signer = parse_signer(out.read_text("utf-8").removesuffix("\n"))
    assert capsys.readouterr().out == signer.verifier.text + "\n"
    assert signer.name == "example.com/log"


def test_cli_generate_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "log.key"
    out.write_text("precious\n")
    assert _run("generate", "example.com/log", "--out", str(out)) == 1
    assert out.read_text() == "precious\n"
    captured = capsys.readouterr()
    assert "already exists" in captured.err
    assert captured.out == ""


def test_cli_generate_refuses_bad_name(tmp_path, capsys):
    out = tmp_path / "log.key"
    assert _run("generate", "bad name", "--out", str(out)) == 1
    assert not out.exists()
    assert "contains a space" in capsys.readouterr().err


@pytest.fixture
def keyfile(tmp_path):
    path = tmp_path / "peter.key"
    path.write_text(SKEY + "\n")
    return path


def test_cli_sign_and_verify_round_trip(tmp_path, keyfile, capsys):
    text = tmp_path / "text"
    text.write_bytes(TEXT.encode())
    assert _run("sign-note", str(keyfile), str(text)) == 0
    signed = capsys.readouterr().out
    assert signed == VECTORS["signed_note"]
    note = tmp_path / "note"
    note.write_text(signed)
    vkey_file = tmp_path / "peter.pub"
    vkey_file.write_text(VKEY + "\n")
    for vkey in (VKEY, str(vkey_file)):
        assert _run("verify-note", vkey, str(note)) == 0
        assert capsys.readouterr().out == TEXT


def test_cli_stdin(tmp_path, keyfile, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("été\n".encode())))
    assert _run("sign-note", str(keyfile), "-") == 0
    assert capsys.readouterr().out.startswith("été\n\n— PeterNeumann ")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(VECTORS["signed_note"].encode())))
    assert _run("verify-note", VKEY, "-") == 0
    assert capsys.readouterr().out == TEXT


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"no newline", "must end in a newline"),
        (b"crlf\r\n", "control character"),
        (b"\xff\n", "not valid UTF-8"),
    ],
)
def test_cli_sign_refuses_bad_text(tmp_path, keyfile, capsys, text, reason):
    path = tmp_path / "text"
    path.write_bytes(text)
    assert _run("sign-note", str(keyfile), str(path)) == 1
    captured = capsys.readouterr()
    assert reason in captured.err
    assert captured.out == ""


def test_cli_sign_refuses_bad_key_file(tmp_path, capsys):
    bad, text = tmp_path / "bad.key", tmp_path / "text"
    bad.write_text(VKEY + "\n")
    text.write_text(TEXT)
    assert _run("sign-note", str(bad), str(text)) == 1
    assert "PRIVATE+KEY" in capsys.readouterr().err
    assert _run("sign-note", str(tmp_path / "missing.key"), str(text)) == 1
    assert "No such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("vkey", "note", "reason"),
    [
        (VECTORS["other_verifier_key"], VECTORS["signed_note"], "no verifiable signatures"),
        (VKEY, VECTORS["signed_note"].replace("cryptography", "cryptograph"), "invalid signature"),
        (VKEY, TEXT, "malformed note"),
        (VKEY[:-1], VECTORS["signed_note"], "verifier key"),
        ("missing.pub", VECTORS["signed_note"], "no such verifier key file"),
    ],
)
def test_cli_verify_failures(tmp_path, capsys, vkey, note, reason):
    path = tmp_path / "note"
    path.write_text(note)
    assert _run("verify-note", vkey, str(path)) == 1
    captured = capsys.readouterr()
    assert reason in captured.err
    assert captured.out == ""


def test_cli_verify_refuses_non_utf8(tmp_path, capsys):
    path = tmp_path / "note"
    path.write_bytes(b"\xff" + VECTORS["signed_note"].encode())
    assert _run("verify-note", VKEY, str(path)) == 1
    assert "UTF-8" in capsys.readouterr().err


def test_console_script(tmp_path):
    script = Path(sys.executable).with_name("carbon-ledger")
    if not script.exists():
        pytest.skip("the carbon-ledger console script is not installed in this environment")
    key = tmp_path / "log.key"

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), "keys", *argv], input=stdin, capture_output=True, text=True, check=False
        )

    generated = run("generate", "example.com/log", "--out", str(key))
    assert generated.returncode == 0, generated.stderr
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    vkey = generated.stdout.strip()
    signed = run("sign-note", str(key), "-", stdin="checkpoint\n")
    assert signed.returncode == 0, signed.stderr
    verified = run("verify-note", vkey, "-", stdin=signed.stdout)
    assert (verified.returncode, verified.stdout) == (0, "checkpoint\n")
    tampered = run("verify-note", vkey, "-", stdin=signed.stdout.replace("check", "chuck"))
    assert tampered.returncode == 1
    assert "invalid signature" in tampered.stderr
    again = run("generate", "example.com/log", "--out", str(key))
    assert again.returncode == 1
    assert "already exists" in again.stderr
