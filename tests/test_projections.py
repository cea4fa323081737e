"""The read side on both backends: views, restarts, rebuilds, and exactly-once batches."""

import argparse
import hashlib
import itertools
import json
import random
import threading
from typing import Any

import msgspec
import pytest

from crypto.records import Receipt
from ledger.domain.common import quarter_of, year_before
from ledger.domain.grading import agri_grade, industrial_grade
from ledger.domain.personal import period_reduction
from ledger.domain.reference import AgriGrading, IndustrialGrading
from ledger.errors import LedgerError
from ledger.node import Node
from ledger.seeds import GRADING_METHODS
from projections import breakdowns, registries, runner, tables
from projections.recorder import StalePosition, open_view_recorder
from projections.registries import GradedFilter
from projections.runner import Projector, run_projections
from projections.tables import TABLES
from projections.views import Views
from tests.support import SEED_ENTRIES, integrate_all, pid, register, signed
from tools.projections import add_projection_commands

AGRI_METHOD = msgspec.convert(GRADING_METHODS["agri-grading"], AgriGrading)
INDUSTRIAL_METHOD = msgspec.convert(GRADING_METHODS["industrial-grading"], IndustrialGrading)
E1, E2, E3 = (f"ind:91330800000000000{n}" for n in range(1, 4))
_unique = itertools.count()


def submit_all(node: Node, wires: list[dict[str, Any]]) -> list[Receipt]:
    """Submit a batch that must be accepted whole."""
    results = node.ledger.submit_batch(wires)
    refused = [r.detail for r in results if isinstance(r, LedgerError)]
    assert not refused, refused
    return results  # type: ignore[return-value]


def project(node: Node) -> Views:
    Projector(node.store).catch_up()
    return Views(node.store)


def dump(node: Node) -> dict[str, Any]:
    """Every view table's rows in key order, and the position."""
    recorder = open_view_recorder(node.store)
    rows = {
        table.name: recorder.select(
            f"SELECT * FROM {{t}} ORDER BY {', '.join(table.keys)}", t=table.name
        )
        for table in TABLES
    }
    return {**rows, "position": recorder.position(node.store.name)}


def reversal(signer: Any, receipt: Receipt) -> dict[str, Any]:
    return signed(
        signer, receipt.account, "EntryReversed", {"entry": receipt.leaf_hash, "reason": "x"}
    )


def behaviour(bank: Any, account: str, name: str, count: int, on: str = "2025-11-03") -> Any:
    data = {"behaviour": name, "count": count, "on": on, "ref": f"r-{next(_unique)}"}
    return signed(bank, account, "GreenBehaviourRecorded", data)


def redemption(bank: Any, account: str, points: int) -> Any:
    data = {"points": points, "use": "goods", "ref": f"r-{next(_unique)}"}
    return signed(bank, account, "PointsRedeemed", data)


def personal_workload(node: Node) -> None:
    """Two banks, three accounts, two persons; redemptions and reversals of both kinds."""
    a = register(node, "bank.a", ["bank"])
    b = register(node, "bank.b", ["bank"])
    submit_all(
        node,
        [
            signed(a, f"per:a:{pid('p1')}", "AccountOpened", {}),
            signed(b, f"per:b:{pid('p1')}", "AccountOpened", {}),
            signed(a, f"per:a:{pid('p2')}", "AccountOpened", {}),
            behaviour(a, f"per:a:{pid('p1')}", "online_transfer", 3),  # 72 g
            behaviour(b, f"per:b:{pid('p1')}", "online_payment", 12),  # capped at 10: 50 g
            behaviour(a, f"per:a:{pid('p2')}", "e_statement", 1),  # 24 g
        ],
    )
    first, _, transfer = submit_all(
        node,
        [
            redemption(a, f"per:a:{pid('p1')}", 30),
            redemption(a, f"per:a:{pid('p1')}", 10),
            behaviour(b, f"per:b:{pid('p1')}", "online_transfer", 1),  # 24 g
        ],
    )
    submit_all(node, [reversal(a, first), reversal(b, transfer)])


def test_balances_and_person_totals_across_two_banks(node):
    personal_workload(node)
    views = project(node)
    assert views.balance(f"per:a:{pid('p1')}") == {
        "account": f"per:a:{pid('p1')}",
        "bank": "a",
        "pid": pid("p1"),
        "points": 62,
        "co2e_g": 72,
        "issued": 72,
        "redeemed": 10,
        "entries": 5,
    }
    assert views.balance(f"per:b:{pid('p1')}") == {
        "account": f"per:b:{pid('p1')}",
        "bank": "b",
        "pid": pid("p1"),
        "points": 50,
        "co2e_g": 50,
        "issued": 50,
        "redeemed": 0,
        "entries": 4,
    }
    assert views.balance(f"per:zz:{pid('p9')}") is None
    assert views.person(pid("p1")) == {
        "pid": pid("p1"),
        "points": 112,
        "co2e_g": 122,
        "issued": 122,
        "redeemed": 10,
        "accounts": 2,
        "banks": ["a", "b"],
    }
    totals = breakdowns.personal_totals(views, None, [])
    assert totals == {
        "accounts": 3,
        "persons": 2,
        "opened": 3,
        "co2e_g": 146,
        "co2e_t": "0.000146",
        "issued": 146,
        "redeemed": 10,
        "outstanding": 136,
        "banks": {
            "a": {"opened": 2, "co2e_g": 96, "co2e_t": "0.000096", "issued": 96, "redeemed": 10},
            "b": {"opened": 1, "co2e_g": 50, "co2e_t": "0.000050", "issued": 50, "redeemed": 0},
        },
    }
    for account in (f"per:a:{pid('p1')}", f"per:b:{pid('p1')}", f"per:a:{pid('p2')}"):
        state = node.ledger.accounts.get(account).state
        balance = views.balance(account)
        assert (balance["points"], balance["issued"], balance["redeemed"]) == (
            state.points,
            state.issued,
            state.redeemed,
        )


def reading(meter: Any, account: str, energy: str, quantity: int, start: str, end: str) -> Any:
    unit = {"electricity": "Wh", "water": "L", "natural_gas": "L"}[energy]
    data = {
        "meter": f"m-{next(_unique)}",
        "energy": energy,
        "quantity": quantity,
        "unit": unit,
        "from": start,
        "to": end,
    }
    return signed(meter, account, "EnergyReadingRecorded", data)


def output(meter: Any, account: str, period: str, value_fen: int) -> Any:
    return signed(meter, account, "OutputValueReported", {"period": period, "value_fen": value_fen})


def industrial_grade_wire(node: Node, account: str, period: str, totals: tuple[int, int]) -> Any:
    """A GradeAssigned the ledger accepts: the account's own figures, graded by the method."""
    state = node.ledger.accounts.get(account).state
    co2e, value, inputs = state.figures(period)
    before = state.figures(year_before(period))
    previous = before[:2] if before else None
    grade = industrial_grade(INDUSTRIAL_METHOD, co2e, value, *totals, previous)
    data = {
        "period": period,
        "grade": grade,
        "method": "industrial-grading@1",
        "co2e_g": co2e,
        "value_fen": value,
        "industry": state.registered["industry"],
        "industry_co2e_g": totals[0],
        "industry_value_fen": totals[1],
        "previous": None if previous is None else {"co2e_g": before[0], "value_fen": before[1]},
        "inputs": inputs,
        "as_of": node.reader.size(),
    }
    return signed(node.grader_key, account, "GradeAssigned", data)


def test_industrial_totals_benchmark_and_grades(node):
    meter = register(node, "meter.m1", ["meter"])
    registry = [(E1, "C26"), (E2, "C26"), (E3, "C30")]
    submit_all(
        node,
        [
            signed(
                node.authority_key,
                account,
                "EnterpriseRegistered",
                {"name": f"Firm {account[-1]}", "industry": industry, "district": "Kecheng"},
            )
            for account, industry in registry
        ],
    )
    *_, q2_reading, _, _, q2_output, _ = submit_all(
        node,
        [
            reading(meter, E1, "electricity", 1_000_000, "2025-01-01", "2025-03-31"),  # 570300 g
            reading(meter, E1, "water", 10_000, "2025-01-01", "2025-03-31"),  # scope 3: 1680 g
            output(meter, E1, "2025-Q1", 5_000_000),
            reading(meter, E1, "electricity", 2_000_000, "2025-04-01", "2025-06-30"),
            reading(meter, E2, "electricity", 3_000_000, "2025-01-01", "2025-03-31"),  # 1710900 g
            output(meter, E2, "2025-Q1", 10_000_000),
            output(meter, E2, "2025-Q2", 1_000),
            reading(meter, E3, "natural_gas", 1_000, "2025-02-01", "2025-02-28"),  # 2162 g
        ],
    )
    submit_all(node, [reversal(meter, q2_reading), reversal(meter, q2_output)])
    views = project(node)

    def figures(period, by="industry"):
        columns = (by, "enterprises", "co2e_g", "scope3_co2e_g", "value_fen")
        rows = breakdowns.industrial_totals(views, period, by)
        return [tuple(row[c] for c in columns) for row in rows]

    assert figures("2025-Q1") == [
        ("C26", 2, 2_281_200, 1_680, 15_000_000),
        ("C30", 1, 2_162, 0, 0),
    ]
    assert figures("2025-Q2") == [("C26", 0, 0, 0, 0)]  # reversed: nothing left
    assert figures("2025-02") == [("C30", 1, 2_162, 0, 0)]  # a month: readings only
    assert figures("2025") == [("C26", 2, 2_281_200, 1_680, 15_000_000), ("C30", 1, 2_162, 0, 0)]
    assert figures("2025", "district") == [("Kecheng", 3, 2_283_362, 1_680, 15_000_000)]
    [c26] = [
        r
        for r in breakdowns.industrial_totals(views, "2025-Q1", "industry")
        if r["industry"] == "C26"
    ]
    assert (c26["co2e_t"], c26["value_yuan"], c26["intensity_g_per_yuan"]) == (
        "2.281200",
        "150000.00",
        "15.208000",
    )
    benchmark = views.benchmark("C26", "2025-Q1")
    assert benchmark == {
        "industry": "C26",
        "period": "2025-Q1",
        "enterprises": 2,
        "co2e_g": 2_281_200,
        "value_fen": 15_000_000,
    }
    assert views.benchmark("C26", "2025")["enterprises"] == 2
    assert views.benchmark("C26", "2025-Q2")["enterprises"] == 0
    assert views.benchmark("C30", "2025-Q1")["enterprises"] == 0  # no output value
    assert views.enterprise(E3) == {
        "account": E3,
        "name": "Firm 3",
        "industry": "C30",
        "district": "Kecheng",
    }
    page = registries.graded_registry(views, "enterprises", GradedFilter(category="C26"), None, 1)
    assert [e["account"] for e in page.items] == [E1] and page.next_cursor == E1
    page = registries.graded_registry(views, "enterprises", GradedFilter(category="C26"), E1, 1)
    assert [e["account"] for e in page.items] == [E2] and page.next_cursor is None
    totals = (benchmark["co2e_g"], benchmark["value_fen"])
    (graded,) = submit_all(node, [industrial_grade_wire(node, E1, "2025-Q1", totals)])
    views = project(node)
    assert views.grade(E1, "2025-Q1") == {
        "account": E1,
        "period": "2025-Q1",
        "grade": "dark_green",  # K = 0.75 of the industry's intensity
        "leaf_hash": graded.leaf_hash,
    }
    (history,) = views.grade_history(E1)
    assert history["leaf_hash"] == graded.leaf_hash
    assert history["data"]["industry_co2e_g"] == 2_281_200
    distribution = breakdowns.grade_distribution(views, None, None)
    assert distribution["industrial"] == {"2025-Q1": {"city": {"dark_green": 1}}}
    coloured = GradedFilter(period="2025-Q1", grade="dark_green")
    page = registries.graded_registry(views, "enterprises", coloured, None, 10)
    assert [(e["account"], e["grade"]) for e in page.items] == [(E1, "dark_green")]


def activity(agri: Any, farm: str, name: str, quantity: int, day: str = "2025-02-10") -> Any:
    unit = {"straw_returned": "g", "organic_fertiliser": "g", "biogas_used": "L"}.get(
        name, "head_day"
    )
    data = {"activity": name, "quantity": quantity, "unit": unit, "from": day, "to": day}
    return signed(agri, farm, "AgriActivityRecorded", data)


def agri_grade_wire(node: Node, farm: str, period: str) -> Any:
    """A GradeAssigned the ledger accepts: the farm's own figures, graded by the method."""
    reduction, emission, inputs = node.ledger.accounts.get(farm).state.figures(period)
    data = {
        "period": period,
        "grade": agri_grade(AGRI_METHOD, reduction, emission),
        "method": "agri-grading@1",
        "reduction_g": reduction,
        "emission_g": emission,
        "inputs": inputs,
    }
    return signed(node.grader_key, farm, "GradeAssigned", data)


def agri_workload(node: Node) -> None:
    """Three farms: a sink, a pig farm graded twice, an emitter; a reversal; a year's grade."""
    agri = register(node, "agri.x", ["agri"])
    farms = {"agr:F1": "grain", "agr:F2": "pig", "agr:F3": "pig"}
    submit_all(
        node,
        [
            signed(
                node.authority_key,
                farm,
                "FarmRegistered",
                {"name": farm[4:], "kind": kind, "district": "Longyou"},
            )
            for farm, kind in farms.items()
        ],
    )
    *_, fertiliser = submit_all(
        node,
        [
            activity(agri, "agr:F1", "straw_returned", 100_000),  # sink 15000 g
            activity(agri, "agr:F2", "pigs_in_stock", 100),  # emits 82192 g
            activity(agri, "agr:F2", "biogas_used", 20_000),  # reduces 40000 g
            activity(agri, "agr:F3", "pigs_in_stock", 10),  # emits 8219 g
            activity(agri, "agr:F2", "organic_fertiliser", 10_000, "2025-04-02"),  # 1660 g, Q2
        ],
    )
    submit_all(node, [reversal(agri, fertiliser)])
    submit_all(node, [agri_grade_wire(node, farm, "2025-Q1") for farm in farms])
    submit_all(node, [activity(agri, "agr:F2", "biogas_used", 30_000, "2025-03-01")])
    submit_all(node, [agri_grade_wire(node, "agr:F2", "2025-Q1")])
    submit_all(node, [agri_grade_wire(node, "agr:F1", "2025")])


def test_agricultural_totals_grades_and_green_list(node):
    agri_workload(node)
    views = project(node)

    def figures(period, by=None):
        rows = breakdowns.agri_totals(views, period, by)
        return [
            (row[by or "city"], row["farms"], row["reduction_g"], row["emission_g"]) for row in rows
        ]

    assert figures("2025-Q1") == [("city", 3, 115_000, 90_411)]
    assert figures("2025-Q2") == [("city", 0, 0, 0)]
    assert figures("2025", "kind") == [("grain", 1, 15_000, 0), ("pig", 2, 100_000, 90_411)]
    assert views.grades("agr:F2") == {"2025-Q1": "dark_green"}
    assert [h["grade"] for h in views.grade_history("agr:F2")] == ["light_green", "dark_green"]
    assert views.grades("agr:F1") == {"2025": "dark_green", "2025-Q1": "dark_green"}
    assert views.green_list("2025-Q1") == [
        {
            "account": "agr:F1",
            "name": "F1",
            "kind": "grain",
            "district": "Longyou",
            "grade": "dark_green",
        },
        {
            "account": "agr:F2",
            "name": "F2",
            "kind": "pig",
            "district": "Longyou",
            "grade": "dark_green",
        },
    ]
    assert breakdowns.grade_distribution(views, None, None)["agricultural"] == {
        "2025": {"city": {"dark_green": 1}},
        "2025-Q1": {"city": {"dark_green": 2, "none": 1}},
    }
    assert breakdowns.grade_distribution(views, "2025-Q1", "kind")["agricultural"] == {
        "2025-Q1": {"grain": {"dark_green": 1}, "pig": {"dark_green": 1, "none": 1}}
    }
    assert views.farm("agr:F3") == {
        "account": "agr:F3",
        "name": "F3",
        "kind": "pig",
        "district": "Longyou",
    }
    pigs = registries.graded_registry(views, "farms", GradedFilter(category="pig"), None, 10)
    assert len(pigs.items) == 2
    city = breakdowns.city_totals(views, "2025", None)
    assert city["agricultural"] == breakdowns.agri_totals(views, "2025", None)
    assert city["grades"]["agricultural"]["2025"] == {"city": {"dark_green": 1}}
    assert "banks" not in city["personal"]  # public: the city only


def test_a_new_projector_continues_where_the_last_one_stopped(node):
    personal_workload(node)
    agri_workload(node)
    first = Projector(node.store)
    assert first.step(limit=7) == 7
    assert first.step(limit=5) == 5
    middle = dump(node)
    assert middle["position"] == first.position() > 0
    second = Projector(node.store, open_view_recorder(node.store))
    assert second.catch_up() > 0
    incremental = dump(node)
    assert Projector(node.store).rebuild() > 12
    assert dump(node) == incremental
    assert Views(node.store).balance(f"per:a:{pid('p1')}")["points"] == 62


def test_a_batch_that_fails_before_commit_changes_nothing(node, monkeypatch):
    personal_workload(node)
    projector = Projector(node.store)
    projector.step(limit=4)
    before = dump(node)
    original = projector.recorder._insert_tracking

    def crash(cursor, tracking):
        original(cursor, tracking)  # every row written, then the process dies
        raise RuntimeError("crash before commit")

    monkeypatch.setattr(projector.recorder, "_insert_tracking", crash)
    with pytest.raises(RuntimeError, match="crash before commit"):
        projector.step()
    assert dump(node) == before
    monkeypatch.undo()
    projector.catch_up()
    incremental = dump(node)
    projector.rebuild()
    assert dump(node) == incremental


def test_a_batch_read_before_another_projector_committed_is_dropped(node, monkeypatch):
    personal_workload(node)
    slow, fast = Projector(node.store), Projector(node.store)
    real_fold = runner.fold

    def fold_while_the_other_commits(entries):
        deltas = real_fold(entries)
        monkeypatch.setattr(runner, "fold", real_fold)
        fast.step()  # commits the same batch first
        return deltas

    monkeypatch.setattr(runner, "fold", fold_while_the_other_commits)
    with pytest.raises(StalePosition):
        slow.step()
    once = dump(node)
    slow.catch_up()
    assert dump(node) == once
    assert Views(node.store).balance(f"per:a:{pid('p1')}")["points"] == 62


def random_workload(node: Node, rng: random.Random, projector: Projector) -> int:
    """A few hundred entries over the three systems, folded in uneven batches as they come."""
    banks = {name: register(node, f"bank.{name}", ["bank"]) for name in ("a", "b", "c")}
    meter = register(node, "meter.r", ["meter"])
    agri = register(node, "agri.r", ["agri"])
    accounts = [f"per:{b}:{pid(f'p{n}')}" for n in range(10) for b in banks if rng.random() < 0.5]
    enterprises = [f"ind:91330800000000010{n}" for n in range(4)]
    farms = [f"agr:R{n}" for n in range(4)]
    setup = [signed(banks[a.split(":")[1]], a, "AccountOpened", {}) for a in accounts]
    setup += [
        signed(
            node.authority_key,
            account,
            "EnterpriseRegistered",
            {"name": account, "industry": rng.choice(["C26", "C30"]), "district": "Q"},
        )
        for account in enterprises
    ]
    setup += [
        signed(
            node.authority_key,
            farm,
            "FarmRegistered",
            {"name": farm, "kind": "grain", "district": "Q"},
        )
        for farm in farms
    ]
    submit_all(node, setup)
    reversible: list[tuple[Any, Receipt]] = []
    days = [f"2025-{month:02d}-{day:02d}" for month in range(1, 13) for day in (1, 15, 28)]
    entries = len(setup)
    signers = {s.key_id: s for s in (*banks.values(), meter, agri)}
    for _ in range(8):
        wires = []
        for _ in range(40):
            kind = rng.random()
            if kind < 0.4:
                account = rng.choice(accounts)
                bank = banks[account.split(":")[1]]
                name = rng.choice(["online_payment", "online_transfer", "online_loan"])
                wires.append(behaviour(bank, account, name, rng.randint(1, 12), rng.choice(days)))
            elif kind < 0.5:
                account = rng.choice(accounts)
                wires.append(redemption(banks[account.split(":")[1]], account, rng.randint(1, 60)))
            elif kind < 0.7:
                end = rng.choice(days)
                energy = rng.choice(["electricity", "water", "natural_gas"])
                account = rng.choice(enterprises)
                wires.append(reading(meter, account, energy, rng.randint(0, 10**6), end, end))
            elif kind < 0.75:
                period = quarter_of(rng.choice(days))
                wires.append(output(meter, rng.choice(enterprises), period, rng.randint(1, 10**7)))
            elif kind < 0.9:
                name = rng.choice(["straw_returned", "biogas_used", "pigs_in_stock"])
                farm = rng.choice(farms)
                wires.append(activity(agri, farm, name, rng.randint(0, 50_000), rng.choice(days)))
            elif reversible:
                signer, receipt = reversible.pop(rng.randrange(len(reversible)))
                wires.append(reversal(signer, receipt))
        for wire, result in zip(wires, node.ledger.submit_batch(wires), strict=True):
            if isinstance(result, Receipt):
                entries += 1
                if wire["submission"]["type"] != "EntryReversed":
                    reversible.append((signers[wire["submission"]["key"]], result))
        grades = []
        for account in rng.sample(enterprises + farms, 3):
            period = quarter_of(rng.choice(days))
            state = node.ledger.accounts.get(account).state
            if state.figures(period) is None:
                continue
            if account.startswith("agr:"):
                grades.append(agri_grade_wire(node, account, period))
            else:
                grades.append(industrial_grade_wire(node, account, period, (10**6, 10**7)))
        entries += len(submit_all(node, grades)) if grades else 0
        for _ in range(rng.randint(0, 3)):
            projector.step(limit=rng.randint(1, 60))
    return entries


@pytest.mark.parametrize("seed", [1, 2, 20251103])
def test_rebuild_equals_incremental_on_a_random_workload(node, seed):
    rng = random.Random(seed)
    projector = Projector(node.store)
    entries = random_workload(node, rng, projector)
    assert entries > 300
    projector.catch_up()
    incremental = dump(node)
    views = Views(node.store)
    rows = incremental[tables.BALANCES.name]
    assert rows
    for account, *_ in rows:
        state = node.ledger.accounts.get(account).state
        balance = views.balance(account)
        assert [balance[k] for k in ("points", "co2e_g", "issued", "redeemed")] == [
            state.points,
            state.co2e_g,
            state.issued,
            state.redeemed,
        ]
    for person_id in {row[2] for row in rows}:
        mine = [views.balance(row[0]) for row in rows if row[2] == person_id]
        person = views.person(person_id)
        assert person["accounts"] == len(mine)
        for key in ("points", "co2e_g", "issued", "redeemed"):
            assert person[key] == sum(balance[key] for balance in mine)
    totals = breakdowns.personal_totals(views, None, None)
    assert totals["outstanding"] == sum(row[3] for row in rows)
    assert totals["accounts"] == len(rows)
    by_quarter: dict[tuple[str, str], list[int]] = {}  # months summed into their quarters
    for account, month, _, _, co2e, _, _ in incremental[tables.PERSONAL_MONTHS.name]:
        by_quarter.setdefault((account, quarter_of(month + "-01")), []).append(co2e)
    for (account, quarter), co2e in by_quarter.items():
        state = node.ledger.accounts.get(account).state
        assert sum(co2e) == period_reduction(state, quarter)[0]
    farms: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for account, month, reduction, emission, _ in incremental[tables.AGRICULTURAL.name]:
        farms.setdefault((account, quarter_of(month + "-01")), []).append((reduction, emission))
    for (account, quarter), months in farms.items():
        figures = node.ledger.accounts.get(account).state.figures(quarter)
        assert tuple(map(sum, zip(*months, strict=True))) == (figures[:2] if figures else (0, 0))
    for account, period, co2e, scope3, value, *_ in incremental[tables.INDUSTRIAL.name]:
        state = node.ledger.accounts.get(account).state
        live = [
            r
            for leaf, r in state.readings.items()
            if leaf not in state.reversed and r.end[:7] == period
        ]
        assert co2e == sum(r.co2e_g for r in live if not r.scope3)
        assert scope3 == sum(r.co2e_g for r in live if r.scope3)
        assert value == (state.live_output(period) or ("", 0))[1]
    for account, period, _, grade, leaf in incremental[tables.CURRENT_GRADES.name]:
        state = node.ledger.accounts.get(account).state
        assert state.latest_grade[period] == leaf
        assert state.grades[leaf]["grade"] == grade
    assert Projector(node.store).rebuild() == SEED_ENTRIES + 5 + entries  # and 5 keys registered
    assert dump(node) == incremental


def test_the_projection_thread_serves_read_your_writes(node):
    personal_workload(node)
    integrate_all(node)
    views = Views(node.store)
    stop = threading.Event()
    thread = threading.Thread(target=run_projections, args=(node, stop))
    thread.start()
    try:
        size = node.reader.size()
        (last,) = node.log.leaves(size - 1, size)
        assert views.wait_for(last.notification_id, timeout=10)
        assert views.balance(f"per:a:{pid('p1')}")["points"] == 62
        assert not views.wait_for(last.notification_id + 10_000, timeout=0.1)
        assert node.log.max_tracking_id(node.store.name) == last.notification_id  # its own
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_rebuild_command_prints_progress(node, data_dir, storage, monkeypatch, capsys):
    personal_workload(node)
    for key, value in storage.items():
        monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    add_projection_commands(parser.add_subparsers())
    args = parser.parse_args(["projections", "rebuild", "--data", str(data_dir)])
    assert args.func(args) == 0
    assert "entries/s" in capsys.readouterr().err
    assert Views(node.store).person(pid("p1"))["accounts"] == 2
    city = breakdowns.city_totals(Views(node.store), None, None)
    assert json.loads(json.dumps(city))["personal"]["persons"] == 2


def test_the_table_definitions_are_the_ones_schema_version_names():
    """Changing a table's columns or indexes needs a new SCHEMA_VERSION (then update this):
    the new version's tables are folded from zero, the old ones are never written again."""
    shape = hashlib.sha256(repr(tables.definitions()).encode()).hexdigest()[:16]
    assert (tables.SCHEMA_VERSION, shape) == (6, "72d7d433b601c130")


def test_an_opening_alone_adds_no_period_to_a_series(node):
    """An entry that moves no CO2e or points writes no month row of zeros."""
    bank = register(node, "bank.a", ["bank"])
    account = f"per:a:{pid('p7')}"
    submit_all(node, [signed(bank, account, "AccountOpened", {})])
    views = project(node)
    assert views.balance(account)["entries"] == 1
    assert breakdowns.account_series(views, account, "month") == []
    assert breakdowns.person_series(views, pid("p7"), "month") == []
    submit_all(node, [behaviour(bank, account, "e_statement", 1, on="2025-10-02")])
    views = project(node)
    series = breakdowns.account_series(views, account, "month")
    assert [(row["period"], row["co2e_g"]) for row in series] == [("2025-10", 24)]
