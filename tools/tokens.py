"""`carbon-ledger tokens`: create, revoke and list bearer tokens for reading accounts.

On the server's storage (`--data DIR`, or the PostgreSQL settings), or over HTTP with the
admin's key (`--url URL --key FILE`), which any node of the ledger answers."""

import argparse
import sys
from pathlib import Path
from typing import Any

from ledger.settings import DEFAULT_DATA, Settings
from ledger.tokens import TOKENS_FILE, FileTokenStore, TokenStore

WHERE = (
    "say where the tokens are: --data DIR (the server's data directory), the PostgreSQL"
    " settings (PERSISTENCE_MODULE=eventsourcing.postgres, POSTGRES_*), or --url with --key"
)


class Remote:
    """The token API of a ledger over HTTP, each request signed by the admin's key."""

    def __init__(self, url: str, key: Path) -> None:
        from client.ledger_client import LedgerClient
        from ledger.keyfiles import read_key

        self.client = LedgerClient(url)
        self.signer = read_key(key)

    def ask(self, action: str, principal: str | None = None, token_id: str | None = None) -> Any:
        from crypto.records import signed_token_request

        wire = signed_token_request(self.signer, action, principal=principal, token_id=token_id)
        return self.client.post_json("/v1/tokens", wire)


def _local(args: argparse.Namespace) -> TokenStore:
    """The token store the flags and the environment name; exits if they name none."""
    settings = Settings.build(args.data or DEFAULT_DATA)
    if settings.postgres:
        from ledger.store import LedgerStore

        store = LedgerStore(env={**settings.storage, "CREATE_TABLE": "n"})
        return store.storage.token_store(store.factory, settings.data_dir)
    if args.data is None:
        sys.exit(f"carbon-ledger tokens: {WHERE}")
    return FileTokenStore(args.data / TOKENS_FILE)


def _fail(command: str, error: object, code: int = 1) -> int:
    print(f"carbon-ledger tokens {command}: {error}", file=sys.stderr)
    return code


def _create(args: argparse.Namespace) -> int:
    """Print a new token on stdout (the only time it is shown) and its id on stderr."""
    try:
        if args.url:
            answer = Remote(args.url, args.key).ask("create", principal=args.principal)
            token_id, token = answer["token_id"], answer["token"]
        else:
            token_id, token = _local(args).create(args.principal)
    except ValueError as error:
        return _fail("create", error, 2)
    except Exception as error:  # refused or unreachable over HTTP
        return _fail("create", error)
    print(token)
    print(f"token id {token_id} for {args.principal}", file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    try:
        if args.url:
            Remote(args.url, args.key).ask("revoke", token_id=args.token_id)
        else:
            _local(args).revoke(args.token_id)
    except LookupError as error:
        return _fail("revoke", error.args[0])
    except Exception as error:
        return _fail("revoke", error)
    print(f"token {args.token_id} revoked", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    """One line per token: id, principal, created, active or revoked; never the token."""
    try:
        if args.url:
            rows = [
                (t["id"], t["principal"], t["created"], t["revoked"])
                for t in Remote(args.url, args.key).ask("list")["tokens"]
            ]
        else:
            rows = [(r.id, r.principal, r.created, r.revoked) for r in _local(args).list()]
    except Exception as error:
        return _fail("list", error)
    for token_id, principal, created, revoked in rows:
        print(f"{token_id}\t{principal}\t{created}\t{'revoked' if revoked else 'active'}")
    return 0


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="the server's data directory (SQLite)")
    parser.add_argument("--url", help="the ledger's URL: ask its token API instead")
    parser.add_argument("--key", type=Path, help="with --url: the admin's key file")


def add_token_commands(commands: Any) -> None:
    """Register `tokens create`, `tokens revoke` and `tokens list`."""
    tokens = commands.add_parser("tokens", help="bearer tokens for the account read API")
    actions = tokens.add_subparsers(dest="tokens_command", metavar="TOKENS_COMMAND", required=True)

    create = actions.add_parser("create", help="new token; printed once, its id on stderr")
    create.add_argument(
        "--principal", required=True, help="regulator, bank:<bank>, ent:<code> or farm:<code>"
    )
    _where(create)
    create.set_defaults(func=_with_key(_create))

    revoke = actions.add_parser("revoke", help="revoke a token by its id (takes effect at once)")
    revoke.add_argument("token_id", metavar="ID")
    _where(revoke)
    revoke.set_defaults(func=_with_key(_revoke))

    listing = actions.add_parser("list", help="ids, principals and states of all tokens")
    _where(listing)
    listing.set_defaults(func=_with_key(_list))


def _with_key(command: Any) -> Any:
    """`command`, refusing --url without --key first."""

    def checked(args: argparse.Namespace) -> int:
        if args.url and args.key is None:
            return _fail(args.tokens_command, "--url needs --key (the admin's key file)", 2)
        return int(command(args))

    return checked
