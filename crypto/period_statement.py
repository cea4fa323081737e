"""Period statements: a ledger-signed note of what an account proves for one period, in
grams, with the sign spelled out, as an exchange trades it: a person's or farm's reductions
(and sinks), an enterprise's or farm's emissions, and how much of the reductions is already
retired, as of a checkpoint holding the account's head."""

import msgspec

from crypto.checkpoint import Checkpoint, parse_checkpoint
from crypto.statement import StatementError, field_value, integer

HEADER = "carbon-ledger/period-statement/v1"
NAMES = ("account", "kind", "period", "reduction_g", "emission_g", "retired_g", "seq", "head")


class PeriodStatement(msgspec.Struct, frozen=True):
    account: str
    kind: str  # person, enterprise or farm
    period: str
    reduction_g: int  # reductions and sinks: what may be sold
    emission_g: int  # gross emissions of the period: never sold, shown for the ratio
    retired_g: int  # of reduction_g, already retired by an exchange
    seq: int  # the account's head entry as of the checkpoint
    head: str
    checkpoint: Checkpoint

    def body(self) -> str:
        values = (
            self.account,
            self.kind,
            self.period,
            self.reduction_g,
            self.emission_g,
            self.retired_g,
            self.seq,
            self.head,
        )
        lines = "".join(f"{name} {value}\n" for name, value in zip(NAMES, values, strict=True))
        return f"{HEADER}\n{lines}{self.checkpoint.body()}"


def parse_period_statement(body: str) -> PeriodStatement:
    """The statement in a note's text; StatementError if it is not exactly that form."""
    lines = body.split("\n")
    if len(lines) < len(NAMES) + 4 or lines[0] != HEADER:
        raise StatementError(f"not a {HEADER} note")
    values = [field_value(line, name) for line, name in zip(lines[1:], NAMES, strict=False)]
    account, kind, period, reduction, emission, retired, seq, head = values
    statement = PeriodStatement(
        account,
        kind,
        period,
        integer(reduction, "reduction_g"),
        integer(emission, "emission_g"),
        integer(retired, "retired_g"),
        integer(seq, "seq"),
        head,
        parse_checkpoint("\n".join(lines[len(NAMES) + 1 :])),
    )
    if statement.body() != body:
        raise StatementError("period statement text is not in canonical form")
    return statement
