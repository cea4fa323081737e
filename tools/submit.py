"""`carbon-ledger submit`: sign one submission with a key file and send it to a ledger."""

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from crypto.canonical import CanonicalError, parse_json
from crypto.records import signed_submission
from ledger.keyfiles import read_key

DEFAULT_URL = "http://127.0.0.1:8000"


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def submit(args: argparse.Namespace) -> int:
    try:
        data = parse_json(args.data)
    except CanonicalError as error:
        print(f"carbon-ledger submit: --data: {error}", file=sys.stderr)
        return 2
    signer = read_key(args.key)
    wire = signed_submission(
        signer, args.account, args.type, data, args.id or f"cli-{uuid.uuid4()}"
    )
    url = f"{args.url.rstrip('/')}/v1/submissions" + ("?wait=true" if args.wait else "")
    status, body = _post(url, wire)
    print(json.dumps(body, indent=2))
    return 0 if status < 400 else 1


def add_submit_command(commands: Any) -> None:
    parser = commands.add_parser("submit", help="sign one submission and send it")
    parser.add_argument("--key", type=Path, required=True, help="private key file")
    parser.add_argument("--account", required=True, help="e.g. per:abc:PSEUDONYM")
    parser.add_argument("--type", required=True, help="event type, e.g. AccountOpened")
    parser.add_argument("--data", default="{}", help="event data as JSON (integers only)")
    parser.add_argument("--id", help="idempotency id (default: a new UUID)")
    parser.add_argument("--url", default=DEFAULT_URL, help="ledger base URL")
    parser.add_argument("--wait", action="store_true", help="wait for the inclusion proof")
    parser.set_defaults(func=submit)
