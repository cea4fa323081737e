"""`carbon-ledger tokens`: create, revoke and list bearer tokens for reading accounts."""

import argparse
import sys
from typing import Any

from api.tokens import TOKENS_FILE, TokenStore
from tools.settings import add_data_option


def _store(args: argparse.Namespace) -> TokenStore:
    return TokenStore(args.data / TOKENS_FILE)


def _create(args: argparse.Namespace) -> int:
    """Print a new token on stdout (the only time it is shown) and its id on stderr."""
    try:
        token_id, token = _store(args).create(args.principal)
    except ValueError as error:
        print(f"carbon-ledger tokens create: {error}", file=sys.stderr)
        return 2
    print(token)
    print(f"token id {token_id} for {args.principal}", file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    try:
        _store(args).revoke(args.token_id)
    except LookupError as error:
        print(f"carbon-ledger tokens revoke: {error.args[0]}", file=sys.stderr)
        return 1
    print(f"token {args.token_id} revoked", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    """One line per token: id, principal, created, active or revoked; never the token."""
    for record in _store(args).list():
        state = "revoked" if record.revoked else "active"
        print(f"{record.id}\t{record.principal}\t{record.created}\t{state}")
    return 0


def _data_option(parser: argparse.ArgumentParser) -> None:
    add_data_option(parser)


def add_token_commands(commands: Any) -> None:
    """Register `tokens create`, `tokens revoke` and `tokens list`."""
    tokens = commands.add_parser("tokens", help="bearer tokens for the account read API")
    actions = tokens.add_subparsers(dest="tokens_command", metavar="TOKENS_COMMAND", required=True)

    create = actions.add_parser("create", help="new token; printed once, its id on stderr")
    create.add_argument(
        "--principal", required=True, help="regulator, bank:<bank>, ent:<code> or farm:<code>"
    )
    _data_option(create)
    create.set_defaults(func=_create)

    revoke = actions.add_parser("revoke", help="revoke a token by its id (takes effect at once)")
    revoke.add_argument("token_id", metavar="ID")
    _data_option(revoke)
    revoke.set_defaults(func=_revoke)

    listing = actions.add_parser("list", help="ids, principals and states of all tokens")
    _data_option(listing)
    listing.set_defaults(func=_list)
