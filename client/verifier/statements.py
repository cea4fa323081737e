"""Recomputing a bundle's ledger-signed statement from the chains the bundle holds: a balance
statement, a period statement or a person summary, told apart by the note's first line."""

from collections.abc import Callable
from typing import Any, Protocol

from client.verifier.failure import Failure
from crypto import period_statement, person_summary, statement
from crypto.checkpoint import Checkpoint
from crypto.keys import Verifier
from crypto.note import NoteError, open_note
from crypto.statement import StatementError
from ledger.domain.balances import balance, period_figures
from ledger.domain.personal import PREFIX, every_account, period_reduction, person_of
from ledger.registry import KeyRegistry


class Chain(Protocol):
    """An account's chain as the verifier replayed it."""

    seq: int
    head: str
    state: Any


class Chains(Protocol):
    """The replayed chains by account, as client.verifier.chains.ChainStore holds them."""

    def get(self, account: str) -> Chain | None: ...

    def __contains__(self, account: object) -> bool: ...


def check_statement(
    note: str, log_key: Verifier, checkpoint: Checkpoint, chains: Chains, registry: KeyRegistry
) -> dict[str, Any]:
    """What the statement says, once its signature, checkpoint, heads and figures hold."""
    try:
        text = open_note(note, [log_key]).text
        check = CHECKS[text.partition("\n")[0]]
        return check(text, checkpoint, chains, registry)
    except (NoteError, StatementError, KeyError) as error:
        raise Failure(
            "statement", "statement", "note", "a statement signed by the log key", str(error)
        ) from None


def _same_checkpoint(stated: Checkpoint, checkpoint: Checkpoint) -> None:
    if stated != checkpoint:
        raise Failure("statement", "statement", "checkpoint", checkpoint.body(), stated.body())


def _head(chains: Chains, account: str, seq: int, head: str) -> Chain:
    """The replayed chain of `account`, which must end at the stated head."""
    chain = chains.get(account)
    if chain is None:
        raise Failure("statement", "statement", "account", "entries of the account", account)
    if (seq, head) != (chain.seq, chain.head):
        where = f"statement ({account})"
        raise Failure(
            "statement", where, "head", f"seq {chain.seq} {chain.head}", f"seq {seq} {head}"
        )
    return chain


def _figures(check: str, field: str, computed: object, stated: object) -> None:
    if computed != stated:
        raise Failure(check, "statement", field, computed, stated)


def _balance(text: str, checkpoint: Checkpoint, chains: Chains, _: KeyRegistry) -> dict[str, Any]:
    stated = statement.parse_statement(text)
    _same_checkpoint(stated.checkpoint, checkpoint)
    chain = _head(chains, stated.account, stated.seq, stated.head)
    points, co2e_g = balance(chain.state)
    _figures("balance", "points, co2e_g", (points, co2e_g), (stated.points, stated.co2e_g))
    return {"account": stated.account, "seq": stated.seq, "points": points, "co2e_g": co2e_g}


def _period(text: str, checkpoint: Checkpoint, chains: Chains, _: KeyRegistry) -> dict[str, Any]:
    stated = period_statement.parse_period_statement(text)
    _same_checkpoint(stated.checkpoint, checkpoint)
    chain = _head(chains, stated.account, stated.seq, stated.head)
    figures = period_figures(chain.state, stated.period)
    found = (stated.kind, stated.reduction_g, stated.emission_g, stated.retired_g)
    _figures("period figures", "kind, reduction_g, emission_g, retired_g", figures, found)
    return {"account": stated.account, "seq": stated.seq, "period": stated.period} | (
        figures._asdict() if figures else {}
    )


def _person(
    text: str, checkpoint: Checkpoint, chains: Chains, registry: KeyRegistry
) -> dict[str, Any]:
    """Every summed account's head, the sums, and no account of the person that the bundle
    shows left out (the account map's proofs show the rest absent: Audit._statement_current)."""
    stated = person_summary.parse_person_summary(text)
    _same_checkpoint(stated.checkpoint, checkpoint)
    if stated.scope:  # one bank's view: it lists only that bank's heads, so it cannot be summed
        raise Failure(
            "person summary", "statement", "scope", "a summary of every account", stated.scope
        )
    summed = {head.account for head in stated.accounts}
    co2e_g = points = 0
    for head in stated.accounts:
        if not head.account.startswith(PREFIX) or person_of(head.account) != stated.pid:
            raise Failure(
                "statement", "statement", "account", f"an account of {stated.pid}", head.account
            )
        reduced, earned = period_reduction(
            _head(chains, head.account, head.seq, head.head).state, stated.period
        )
        co2e_g, points = co2e_g + reduced, points + earned
    _figures("person summary", "co2e_g, points", (co2e_g, points), (stated.co2e_g, stated.points))
    shown = {a for a in every_account(stated.pid, registry) if a in chains}
    if shown - summed:
        raise Failure("person summary", "statement", "accounts", sorted(shown), sorted(summed))
    return {"pid": stated.pid, "period": stated.period, "co2e_g": co2e_g, "points": points}


CHECKS: dict[str, Callable[[str, Checkpoint, Chains, KeyRegistry], dict[str, Any]]] = {
    statement.HEADER: _balance,
    period_statement.HEADER: _period,
    person_summary.HEADER: _person,
}
