"""A child process for tests: one bank records a person's behaviours, one entry each."""

import json
import sys
from pathlib import Path

from ledger.keyfiles import read_key
from tests.support import open_at, signed


def main(data: str, env: str, key_file: str, account: str, count: str) -> None:
    node = open_at(Path(data), json.loads(env))
    bank = read_key(Path(key_file))
    for i in range(int(count)):
        behaviour = {"behaviour": "online_transfer", "count": 1, "on": "2026-11-20", "ref": f"t{i}"}
        node.ledger.submit(signed(bank, account, "GreenBehaviourRecorded", behaviour))
    node.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
