"""Grade statements: a ledger-signed note saying which grade an enterprise or farm holds for
a period, as of a checkpoint that includes the grade's entry (what a bank lends against)."""

import msgspec

from crypto.checkpoint import Checkpoint, parse_checkpoint
from crypto.statement import StatementError, field_value, integer

HEADER = "carbon-ledger/grade-statement/v1"
FIELDS = 7  # lines before the checkpoint's


class GradeStatement(msgspec.Struct, frozen=True):
    """The latest grade of `account` for `period` in the tree of `checkpoint`: its colour,
    method, and the leaf (at `index`) whose entry holds the figures."""

    account: str
    period: str
    grade: str
    method: str
    leaf: str
    index: int
    checkpoint: Checkpoint

    def body(self) -> str:
        """The note text: one `key value` line per field, the checkpoint's three lines last."""
        return (
            f"{HEADER}\naccount {self.account}\nperiod {self.period}\ngrade {self.grade}\n"
            f"method {self.method}\nleaf {self.leaf}\nindex {self.index}\n"
            f"{self.checkpoint.body()}"
        )


def parse_grade_statement(body: str) -> GradeStatement:
    """The grade statement in a note's text; StatementError if it is not exactly that form."""
    lines = body.split("\n")
    if len(lines) < FIELDS + 3 or lines[0] != HEADER:
        raise StatementError(f"not a {HEADER} note")
    names = ("account", "period", "grade", "method", "leaf", "index")
    values = [field_value(line, name) for line, name in zip(lines[1:FIELDS], names, strict=True)]
    checkpoint = parse_checkpoint("\n".join(lines[FIELDS:]))
    account, period, grade, method, leaf, index = values
    statement = GradeStatement(
        account, period, grade, method, leaf, integer(index, "index"), checkpoint
    )
    if statement.body() != body:
        raise StatementError("grade statement text is not in canonical form")
    return statement
