"""Person summaries: a ledger-signed note of what one person reduced in a period across every
bank and platform, for the city credit score; each account's head pins the history it sums."""

import msgspec

from crypto.checkpoint import Checkpoint, parse_checkpoint
from crypto.statement import StatementError, field_value, integer

HEADER = "carbon-ledger/person-summary/v1"


class Head(msgspec.Struct, frozen=True):
    """An account summed, as of its entry `seq` (leaf hash `head`) in the checkpoint's tree."""

    account: str
    seq: int
    head: str


class PersonSummary(msgspec.Struct, frozen=True):
    pid: str
    period: str
    co2e_g: int
    points: int
    accounts: tuple[Head, ...]
    checkpoint: Checkpoint
    # for one bank: only its own accounts' heads are listed (the sums still cover every
    # bank); "" for the regulator's summary, which lists every account summed
    scope: str = ""

    def body(self) -> str:
        """`key value` lines, `scope` if any, one `account ID SEQ HEAD` line per account
        listed, the checkpoint last."""
        scope = f"scope {self.scope}\n" if self.scope else ""
        heads = "".join(f"account {h.account} {h.seq} {h.head}\n" for h in self.accounts)
        return (
            f"{HEADER}\npid {self.pid}\nperiod {self.period}\nco2e_g {self.co2e_g}\n"
            f"points {self.points}\n{scope}{heads}{self.checkpoint.body()}"
        )


def parse_person_summary(body: str) -> PersonSummary:
    """The summary in a note's text; StatementError if it is not exactly that form."""
    lines = body.split("\n")
    if len(lines) < 8 or lines[0] != HEADER:
        raise StatementError(f"not a {HEADER} note")
    pid, period = field_value(lines[1], "pid"), field_value(lines[2], "period")
    co2e_g = integer(field_value(lines[3], "co2e_g"), "co2e_g")
    points = integer(field_value(lines[4], "points"), "points")
    heads, rest = [], lines[5:]
    scope = field_value(rest.pop(0), "scope") if rest and rest[0].startswith("scope ") else ""
    while rest and rest[0].startswith("account "):
        account, seq, head = field_value(rest.pop(0), "account").split(" ")
        heads.append(Head(account, integer(seq, "seq"), head))
    summary = PersonSummary(
        pid, period, co2e_g, points, tuple(heads), parse_checkpoint("\n".join(rest)), scope
    )
    if summary.body() != body:
        raise StatementError("person summary text is not in canonical form")
    return summary
