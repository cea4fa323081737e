"""crypto.pseudonym and `carbon-ledger pid`: keyed, normalised, and the id never shown."""

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.pseudonym import person_pseudonym
from ledger.submissions import ACCOUNT_PATTERN
from tests.files import run_cli

SECRET = b"0123456789abcdef"
OTHER_SECRET = b"fedcba9876543210"
PROPERTY = settings(max_examples=50, deadline=None)
IDS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(lambda s: s.strip())


def test_known_answer_matches_openssl():
    # printf 11010519491231002X | openssl dgst -sha256 -hmac 0123456789abcdef -binary | base32
    expected = "3vvfxixo22b6pes3ed3flqaugsutlemygcewqztcw5pwhoc2tqnq"
    assert person_pseudonym(SECRET, "11010519491231002X") == expected


def test_normalises_whitespace_and_case():
    assert person_pseudonym(SECRET, " 11010519491231002x\n") == person_pseudonym(
        SECRET, "11010519491231002X"
    )


@PROPERTY
@given(IDS)
def test_deterministic_and_fits_an_account_id(national_id):
    pid = person_pseudonym(SECRET, national_id)
    assert pid == person_pseudonym(SECRET, national_id)
    assert re.fullmatch(r"[a-z2-7]{52}", pid)
    assert ACCOUNT_PATTERN.fullmatch(f"per:abc:{pid}")


@PROPERTY
@given(IDS)
def test_different_secrets_differ(national_id):
    assert person_pseudonym(SECRET, national_id) != person_pseudonym(OTHER_SECRET, national_id)


def test_different_ids_differ():
    assert person_pseudonym(SECRET, "110105194912310021") != person_pseudonym(
        SECRET, "110105194912310022"
    )


@pytest.mark.parametrize("national_id", ["", " ", "\n\t"])
def test_refuses_an_empty_id(national_id):
    with pytest.raises(ValueError, match="empty"):
        person_pseudonym(SECRET, national_id)


def test_refuses_a_short_secret():
    with pytest.raises(ValueError, match="16 bytes"):
        person_pseudonym(SECRET[:15], "110105194912310021")


def _pid(secret_file: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return run_cli("pid", "--secret-file", str(secret_file), stdin=stdin)


def test_pid_cli_prints_one_pseudonym_per_line(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET)
    ids = ["11010519491231002X", "330802199001011234", "33080219900101123x"]
    result = _pid(secret_file, ("\n".join(ids) + "\n").encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [person_pseudonym(SECRET, i) for i in ids]
    assert result.stderr == b""
    single = _pid(secret_file, b"11010519491231002x")
    assert single.stdout.decode() == person_pseudonym(SECRET, "11010519491231002X") + "\n"


def test_pid_cli_refuses_bad_input_without_echoing_the_id(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET)
    short = tmp_path / "short"
    short.write_bytes(SECRET[:8])
    national_id = b"330802199001011234"
    cases = [
        (secret_file, national_id + b"\n\n", b"line 2 is empty; stopped after 1"),
        (secret_file, national_id + b"\n  \n" + national_id, b"line 2 is empty"),
        (secret_file, b"\xff\xfe\n", b"line 1 is not UTF-8"),
        (secret_file, b"", b"no national id"),
        (short, national_id + b"\n", b"holds 8 bytes; at least 16"),
        (tmp_path / "missing", national_id + b"\n", b"cannot read"),
    ]
    for secret, stdin, message in cases:
        result = _pid(secret, stdin)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(b"carbon-ledger pid: ") and message in result.stderr
        assert national_id not in result.stdout + result.stderr
