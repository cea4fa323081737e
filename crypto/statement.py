"""Balance statements: a ledger-signed note saying what an account held at a checkpoint."""

import msgspec

from crypto.checkpoint import Checkpoint, parse_checkpoint

HEADER = "carbon-ledger/statement/v1"


class StatementError(ValueError):
    pass


class Statement(msgspec.Struct, frozen=True):
    """An account's head entry and balance, as of a checkpoint that includes the head."""

    account: str
    seq: int
    head: str
    points: int
    co2e_g: int
    checkpoint: Checkpoint

    def body(self) -> str:
        """The note text: one `key value` line per field, the checkpoint's three lines last."""
        return (
            f"{HEADER}\naccount {self.account}\nseq {self.seq}\nhead {self.head}\n"
            f"points {self.points}\nco2e_g {self.co2e_g}\n{self.checkpoint.body()}"
        )


def field_value(line: str, name: str) -> str:
    """The value of a `name value` line; StatementError if the line is not that."""
    key, _, value = line.partition(" ")
    if key != name or not value:
        raise StatementError(f"expected `{name} ...`, found {line!r}")
    return value


def integer(text: str, name: str) -> int:
    """A decimal integer field; StatementError if it is not one."""
    if not text.lstrip("-").isdigit():
        raise StatementError(f"{name} {text!r} is not an integer")
    return int(text)


def parse_statement(body: str) -> Statement:
    """The statement in a note's text; StatementError if it is not exactly that form."""
    lines = body.split("\n")
    if len(lines) < 9 or lines[0] != HEADER:
        raise StatementError("not a carbon-ledger/statement/v1 note")
    account = field_value(lines[1], "account")
    seq = integer(field_value(lines[2], "seq"), "seq")
    head = field_value(lines[3], "head")
    points = integer(field_value(lines[4], "points"), "points")
    co2e_g = integer(field_value(lines[5], "co2e_g"), "co2e_g")
    checkpoint = parse_checkpoint("\n".join(lines[6:]))
    statement = Statement(account, seq, head, points, co2e_g, checkpoint)
    if statement.body() != body:
        raise StatementError("statement text is not in canonical form")
    return statement
