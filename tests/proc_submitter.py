"""A child process for tests: registers keys on sys:keys and opens accounts, by its own node."""

import json
import sys
from pathlib import Path

from crypto.keys import generate_signer
from ledger.keyfiles import read_key
from tests.support import open_at, pid, signed


def main(data: str, env: str, key_file: str, tag: str, count: str) -> None:
    node = open_at(Path(data), json.loads(env))
    bank = read_key(Path(key_file))
    for i in range(int(count)):
        vkey = generate_signer(f"bank.{tag}{i}").verifier.text
        registration = {"vkey": vkey, "roles": ["bank"]}
        node.ledger.submit(
            signed(node.admin_key, "sys:keys", "KeyRegistered", registration, id_=f"{tag}-k{i}")
        )
        node.ledger.submit(
            signed(bank, f"per:abc:{pid(f'{tag}{i}')}", "AccountOpened", {}, id_=f"{tag}-o{i}")
        )
    node.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
