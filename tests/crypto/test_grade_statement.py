"""Grade statements: the exact text a bank's loan system parses, and refusals of any other."""

import pytest

from crypto.checkpoint import Checkpoint
from crypto.grade_statement import GradeStatement, parse_grade_statement
from crypto.statement import StatementError

STATED = GradeStatement(
    "ind:91330800MA00000001",
    "2026-Q3",
    "light_green",
    "industrial-grading@1",
    "ab" * 32,
    41,
    Checkpoint("ledger.quzhou", 42, bytes(32)),
)


def test_round_trip():
    body = STATED.body()
    assert body.startswith("carbon-ledger/grade-statement/v1\naccount ind:91330800MA00000001\n")
    assert "\nindex 41\nledger.quzhou\n42\n" in body
    assert parse_grade_statement(body) == STATED


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b.replace("grade-statement/v1", "grade-statement/v2"),
        lambda b: b.replace("index 41", "index 041"),
        lambda b: b.replace("index 41", "index x"),
        lambda b: b.replace("period 2026-Q3\n", ""),
        lambda b: b.replace("grade light_green", "colour light_green"),
        lambda b: b.replace("\nledger.quzhou\n42", "\nledger.quzhou\nfortytwo"),
    ],
)
def test_anything_else_is_refused(edit):
    with pytest.raises((StatementError, ValueError)):
        parse_grade_statement(edit(STATED.body()))


def test_person_summaries_round_trip_and_refuse_other_forms():
    from crypto.person_summary import Head, PersonSummary, parse_person_summary

    heads = (Head("per:abc:" + "a" * 52, 3, "cd" * 32), Head("per:xyz:" + "a" * 52, 0, "ef" * 32))
    summary = PersonSummary("a" * 52, "2026-Q4", 63, 63, heads, STATED.checkpoint)
    body = summary.body()
    assert parse_person_summary(body) == summary
    for old, new in (
        ("co2e_g 63", "co2e_g 063"),
        ("points 63", "points +63"),
        (f"per:abc:{'a' * 52} 3 ", f"per:abc:{'a' * 52} 03 "),
        ("pid ", "person "),
    ):
        with pytest.raises((StatementError, ValueError)):
            parse_person_summary(body.replace(old, new))


def test_period_statements_round_trip_and_refuse_other_forms():
    from crypto.period_statement import PeriodStatement, parse_period_statement

    stated = PeriodStatement(
        "agr:grain-001", "farm", "2026-Q3", 150_000, 0, 100_000, 4, "ab" * 32, STATED.checkpoint
    )
    body = stated.body()
    assert "\nreduction_g 150000\nemission_g 0\nretired_g 100000\n" in body
    assert parse_period_statement(body) == stated
    for old, new in (("retired_g 100000", "retired_g 1e5"), ("kind farm", "sort farm")):
        with pytest.raises((StatementError, ValueError)):
            parse_period_statement(body.replace(old, new))
