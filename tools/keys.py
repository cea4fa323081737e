"""`carbon-ledger keys`: generate note keys, sign notes and verify signed notes."""

import argparse
import sys
from pathlib import Path

from crypto.keys import Verifier, generate_signer, parse_signer, parse_verifier
from crypto.note import open_note, sign_note
from ledger.keyfiles import write_new_key

STDIN = "-"


def _fail(command: str, reason: object) -> int:
    """Report why `keys COMMAND` failed on stderr; the exit code 1."""
    print(f"carbon-ledger keys {command}: {reason}", file=sys.stderr)
    return 1


def _read_bytes(name: str) -> bytes:
    """The bytes of file `name`, or of standard input for '-'."""
    return sys.stdin.buffer.read() if name == STDIN else Path(name).read_bytes()


def _read_text(name: str) -> str:
    """The UTF-8 text of file `name` (or '-'), newlines kept exactly as they are."""
    try:
        return _read_bytes(name).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{name} is not valid UTF-8") from None


def _load_verifier(arg: str) -> Verifier:
    """The verifier key given as its text or as the path of a file holding it."""
    path = Path(arg)
    if path.is_file():
        return parse_verifier(_read_text(arg).strip())
    if "+" not in arg:
        raise FileNotFoundError(f"{arg}: no such verifier key file")
    return parse_verifier(arg)


def _generate(args: argparse.Namespace) -> int:
    """Write a new private key to a new 0600 file and print its verifier key."""
    try:
        signer = generate_signer(args.name)
        write_new_key(Path(args.out), signer)
    except FileExistsError:
        return _fail("generate", f"{args.out} already exists; not overwriting it")
    except (OSError, ValueError) as e:
        return _fail("generate", e)
    print(signer.verifier.text)
    return 0


def _sign_note(args: argparse.Namespace) -> int:
    """Print the file's text signed with the private key."""
    try:
        signer = parse_signer(Path(args.keyfile).read_text(encoding="utf-8").strip())
        signed = sign_note(_read_text(args.file), signer)
    except (OSError, ValueError) as e:
        return _fail("sign-note", e)
    sys.stdout.write(signed)
    return 0


def _verify_note(args: argparse.Namespace) -> int:
    """Print the text of a signed note if the verifier key signed it."""
    try:
        note = open_note(_read_bytes(args.file), [_load_verifier(args.vkey)])
    except (OSError, ValueError) as e:
        return _fail("verify-note", e)
    sys.stdout.write(note.text)
    return 0


def add_keys_commands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `keys generate`, `keys sign-note` and `keys verify-note`."""
    keys = subparsers.add_parser("keys", help="note signing keys (C2SP signed-note, Ed25519)")
    commands = keys.add_subparsers(dest="keys_command", metavar="KEYS_COMMAND", required=True)

    generate = commands.add_parser("generate", help="generate a key; print its verifier key")
    generate.add_argument("name", metavar="NAME", help="key name, e.g. example.com/ledger")
    generate.add_argument(
        "--out", required=True, metavar="FILE", help="new file for the private key (mode 0600)"
    )
    generate.set_defaults(func=_generate)

    sign = commands.add_parser("sign-note", help="sign a text (ending in a newline) as a note")
    sign.add_argument("keyfile", metavar="KEYFILE", help="file holding the private key")
    sign.add_argument("file", metavar="FILE", help="the text to sign, or - for stdin")
    sign.set_defaults(func=_sign_note)

    verify = commands.add_parser("verify-note", help="verify a signed note; print its text")
    verify.add_argument("vkey", metavar="VKEY", help="verifier key, or a file holding it")
    verify.add_argument("file", metavar="FILE", help="the signed note, or - for stdin")
    verify.set_defaults(func=_verify_note)
