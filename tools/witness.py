"""`carbon-ledger witness`: a C2SP tlog-witness server and its key generation."""

import argparse
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from crypto.cosignature import generate_cosigner, parse_witness_signer
from crypto.keys import parse_verifier
from crypto.witness_protocol import ADD_CHECKPOINT_PATH, SIZE_CONTENT_TYPE, format_size
from ledger.keyfiles import write_new_key
from tools.witness_state import Refusal, Refused, WitnessState

MAX_BODY = 64 * 1024
TEXT_TYPE = "text/plain; charset=utf-8"


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None once it is longer than MAX_BODY."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


# C2SP tlog-witness: the status of each refusal of add-checkpoint
STATUS = {
    Refusal.MALFORMED: HTTPStatus.BAD_REQUEST,
    Refusal.UNKNOWN_LOG: HTTPStatus.NOT_FOUND,
    Refusal.NOT_SIGNED: HTTPStatus.FORBIDDEN,
    Refusal.CONFLICT: HTTPStatus.CONFLICT,
    Refusal.BAD_PROOF: HTTPStatus.UNPROCESSABLE_ENTITY,
}


def _refusal(refused: Refused) -> Response:
    """The HTTP answer to a refused request; a 409 carries the witness's size."""
    status = STATUS[refused.kind]
    if refused.size is not None:
        headers = {"Content-Type": SIZE_CONTENT_TYPE}  # exactly, with no charset parameter
        return Response(format_size(refused.size), status, headers=headers)
    return PlainTextResponse(refused.detail + "\n", status, media_type=TEXT_TYPE)


def create_witness_app(state: WitnessState) -> FastAPI:
    """The witness's HTTP API: POST /add-checkpoint."""
    app = FastAPI(title="Carbon Ledger witness", version="1", docs_url=None, redoc_url=None)

    @app.post(ADD_CHECKPOINT_PATH, response_class=PlainTextResponse)
    async def add_checkpoint(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            return PlainTextResponse("request body too large\n", 413, media_type=TEXT_TYPE)
        try:
            lines = await run_in_threadpool(state.add_checkpoint, body)
        except Refused as refused:
            return _refusal(refused)
        return PlainTextResponse(lines, media_type=TEXT_TYPE)

    return app


def _fail(command: str, reason: object) -> int:
    """Report why `witness COMMAND` failed on stderr; the exit code 1."""
    print(f"carbon-ledger witness {command}: {reason}", file=sys.stderr)
    return 1


def _keygen(args: argparse.Namespace) -> int:
    """Write a new witness key to a new 0600 file and print its verifier key."""
    try:
        signer = generate_cosigner(args.name)
        write_new_key(Path(args.out), signer)
    except FileExistsError:
        return _fail("keygen", f"{args.out} already exists; not overwriting it")
    except (OSError, ValueError) as e:
        return _fail("keygen", e)
    print(signer.verifier.text)
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Run the witness until interrupted."""
    try:
        signer = parse_witness_signer(args.key.read_text(encoding="utf-8").strip())
        log_keys = [parse_verifier(text) for text in args.log_key]
        state = WitnessState(args.state, signer, log_keys)
    except (OSError, ValueError) as e:
        return _fail("serve", e)
    print(f"witness {signer.verifier.text}: state {args.state.resolve()}", flush=True)
    uvicorn.run(create_witness_app(state), host=args.host, port=args.port, log_level="info")
    return 0


def add_witness_commands(commands: Any) -> None:
    """Register `witness keygen` and `witness serve`."""
    witness = commands.add_parser("witness", help="a C2SP tlog-witness that cosigns checkpoints")
    sub = witness.add_subparsers(dest="witness_command", metavar="WITNESS_COMMAND", required=True)

    keygen = sub.add_parser("keygen", help="generate a witness key; print its verifier key")
    keygen.add_argument("name", metavar="NAME", help="witness name, e.g. witness.example.org")
    keygen.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="new file for the key (0600)"
    )
    keygen.set_defaults(func=_keygen)

    serve = sub.add_parser("serve", help="serve POST /add-checkpoint")
    serve.add_argument("--key", required=True, type=Path, metavar="FILE", help="witness key file")
    serve.add_argument(
        "--log-key",
        required=True,
        action="append",
        metavar="VKEY",
        help="verifier key of a log to witness (its name is the origin); repeatable, and a"
        " log may have two across a rotation of its key",
    )
    serve.add_argument(
        "--state", type=Path, default=Path("witness-state.json"), help="state file (JSON)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=_serve)
