"""Private key files: C2SP text, mode 0600, never overwritten."""

import contextlib
import os
from pathlib import Path
from typing import Protocol

from crypto.keys import Signer, generate_signer, parse_signer


class HasText(Protocol):
    """A private key of any kind: a note signer or a witness cosigner."""

    @property
    def text(self) -> str: ...


def write_new_key(path: Path, signer: HasText) -> None:
    """Write a private key's text to a new file with mode 0600; FileExistsError if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(signer.text + "\n")


def read_key(path: Path) -> Signer:
    return parse_signer(path.read_text().strip())


def load_or_create_key(path: Path, name: str) -> Signer:
    """The key in `path`, generated on first use."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process created it first
            write_new_key(path, generate_signer(name))
    return read_key(path)
