"""`carbon-ledger demo`: a deterministic demo city (banks, persons, enterprises, farms), graded.

The plan is pure data made from the seed, so tests can recompute what the ledger should
say from the plan alone; loading signs it with keys derived from the seed too. The
operations are generated as they are loaded (`operations`), so a city of any size takes
the memory of one batch.
"""

import argparse
import hashlib
import itertools
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from crypto.keys import Signer, signer_from_seed
from crypto.pseudonym import person_pseudonym
from crypto.records import signed_submission
from ledger.errors import LedgerError
from ledger.grader import Kind
from ledger.node import Node, open_node
from ledger.seeds import (
    AGRI_FACTORS_V2,
    AGRI_FACTORS_V2_SOURCE,
    INDUSTRIAL_FACTORS_V2,
    INDUSTRIAL_FACTORS_V2_SOURCE,
    PERSONAL_FACTORS_V2,
    PERSONAL_FACTORS_V2_SOURCE,
    SEED_VALID_FROM,
)
from tools.init import initialise
from tools.progress import progress_bar
from tools.settings import add_data_option, settings_from

AT = "2026-11-01T00:00:00Z"
QUARTER_MONTHS = {
    "2025-Q3": ("2025-07", "2025-08", "2025-09"),
    "2026-Q3": ("2026-07", "2026-08", "2026-09"),
}
MONTH_END = {"07": "31", "08": "31", "09": "30"}
INDUSTRIES = ("C26", "C30", "C31", "C22", "C25", "D44")
DISTRICTS = ("Kecheng", "Qujiang", "Longyou", "Jiangshan", "Changshan", "Kaihua")
BEHAVIOURS = {  # behaviour: (grams, daily cap) as the demo uses them; caps are never reached
    "online_payment": (5, 10),
    "online_transfer": (24, 10),
    "online_wealth_management": (24, 5),
    "paperless_branch": (24, 5),
}
BATCH = 500
USES = (
    "loan_rate_discount",
    "fee_deduction",
    "goods",
    "donation",
    "neighbourhood_points",
    "merchant",
)
DISPUTED = 3  # enterprises and farms that dispute their 2026-Q3 grade after grading


@dataclass(frozen=True)
class Operation:
    signer: str  # key name: admin.quzhou, authority.quzhou, bank.<b>, meter.demo, agri.demo
    account: str
    type: str
    data: dict[str, Any]
    id: str


@dataclass
class DemoPlan:
    banks: list[str]
    keys: list[tuple[str, str]]  # (key name, role) to register
    operations: Iterable[Operation] = field(default_factory=list)  # a list, or streamed


def demo_signer(seed: int, name: str) -> Signer:
    """A key derived from the seed, so the same seed signs the same bytes."""
    digest = hashlib.sha256(f"carbon-ledger-demo:{seed}:{name}".encode()).digest()
    return signer_from_seed(name, digest)


def _code(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(length))


VERSION_2 = (
    ("industrial-factors", INDUSTRIAL_FACTORS_V2, INDUSTRIAL_FACTORS_V2_SOURCE),
    ("personal-factors", PERSONAL_FACTORS_V2, PERSONAL_FACTORS_V2_SOURCE),
    ("agri-factors", AGRI_FACTORS_V2, AGRI_FACTORS_V2_SOURCE),
)
PLATFORM = "citybus"  # a city platform keeping personal accounts beside the banks
DEMO_PID_SECRET = b"carbon-ledger demo: the banks' shared pseudonym secret"


def _persons(banks: list[str], rng: random.Random, count: int) -> Iterator[Operation]:
    for person in range(count):
        resident = f"3308{int(rng.random() * 10**13):013d}{person % 10}"  # a made-up 18-char id
        pid = person_pseudonym(DEMO_PID_SECRET, resident)  # what the banks send, never the id
        for bank in rng.sample(banks, min(rng.choice((1, 1, 1, 2, 2, 3)), len(banks))):
            account = f"per:{bank}:{pid}"
            signer = f"bank.{bank}"
            ops = [Operation(signer, account, "AccountOpened", {}, f"open:{pid}")]
            balance = 0
            for n in range(rng.randint(1, 8)):
                behaviour = rng.choice(sorted(BEHAVIOURS))
                grams, cap = BEHAVIOURS[behaviour]
                day = f"2026-{rng.choice(('08', '09', '10'))}-{rng.randint(1, 28):02d}"
                count = rng.randint(1, cap // 2)
                data = {
                    "behaviour": behaviour,
                    "count": count,
                    "on": day,
                    "ref": f"{pid[:8]}-{n}",
                }
                ops.append(
                    Operation(signer, account, "GreenBehaviourRecorded", data, f"b:{pid}:{n}")
                )
                balance += count * grams
            if balance >= 40 and rng.random() < 0.3:
                points = rng.randint(10, balance // 2)
                use = USES[person % len(USES)]  # every use, in turn
                ops.append(
                    Operation(
                        signer,
                        account,
                        "PointsRedeemed",
                        {"points": points, "use": use, "ref": f"{pid[:8]}-r"},
                        f"r:{pid}",
                    )
                )
            yield from ops
        if person % 4 == 0:  # the city's bus company credits green travel on its own account
            yield from _travel(rng, pid)


def _travel(rng: random.Random, pid: str) -> Iterator[Operation]:
    account, signer = f"per:{PLATFORM}:{pid}", f"platform.{PLATFORM}"
    yield Operation(signer, account, "AccountOpened", {}, f"open:{pid}")
    for n in range(rng.randint(1, 4)):
        day = f"2026-{rng.choice(('08', '09', '10'))}-{rng.randint(1, 28):02d}"
        trips = {"behaviour": "bus_or_metro_trip", "count": rng.randint(1, 4), "on": day}
        data = {**trips, "ref": f"{pid[:8]}-bus{n}"}
        yield Operation(signer, account, "GreenBehaviourRecorded", data, f"bus:{pid}:{n}")


def _enterprises(rng: random.Random, count: int) -> Iterator[Operation]:
    for number in range(count):
        account = f"ind:9133080{number:04d}{_code(rng, 7)}"
        industry = INDUSTRIES[number % len(INDUSTRIES)]
        data = {
            "name": f"Enterprise {number}",
            "industry": industry,
            "district": rng.choice(DISTRICTS),
        }
        yield Operation("authority.quzhou", account, "EnterpriseRegistered", data, f"reg:{account}")
        size = rng.randint(5, 50)
        efficiency = rng.uniform(0.6, 1.5)
        for period, months in QUARTER_MONTHS.items():
            drift = 1.0 if period.startswith("2026") else rng.uniform(0.85, 1.2)
            for month in months:
                start, end = f"{month}-01", f"{month}-{MONTH_END[month[-2:]]}"
                wh = int(size * 100_000_000 * efficiency * drift * rng.uniform(0.9, 1.1))
                coal = int(size * 1_000_000 * efficiency * rng.uniform(0.5, 1.5))
                if industry == "C30":  # non-metallic minerals: clinker's own process CO2
                    clinker = {
                        "product": "cement_clinker",
                        "quantity": int(size * 2_000_000 * drift * rng.uniform(0.9, 1.1)),
                        "unit": "g",
                        "from": start,
                        "to": end,
                    }
                    yield Operation(
                        "meter.demo",
                        account,
                        "ProcessOutputRecorded",
                        clinker,
                        f"p:{account}:clinker:{month}",
                    )
                for energy, quantity, unit in (
                    ("electricity", wh, "Wh"),
                    ("raw_coal", coal, "g"),
                    ("water", size * 10_000, "L"),
                ):
                    reading = {
                        "meter": f"{energy[:4]}-1",
                        "energy": energy,
                        "quantity": quantity,
                        "unit": unit,
                        "from": start,
                        "to": end,
                    }
                    yield Operation(
                        "meter.demo",
                        account,
                        "EnergyReadingRecorded",
                        reading,
                        f"m:{account}:{energy}:{month}",
                    )
            value = int(size * 3_000_000_000 * rng.uniform(0.9, 1.1))
            yield Operation(
                "meter.demo",
                account,
                "OutputValueReported",
                {"period": period, "value_fen": value},
                f"v:{account}:{period}",
            )


# reduction items and the quantity that makes at least one gram of them (agri-factors@2)
RETIRABLE = {"straw_returned": 4, "organic_fertiliser": 4, "biogas_used": 1}


def _farms(rng: random.Random, count: int) -> Iterator[Operation]:
    activities = {  # agri-factors@2: each kind of farm its own items
        "grain": (
            ("planting_area", "m2", 200_000),
            ("straw_produced", "g", 40_000_000),
            ("straw_returned", "g", 20_000_000),
        ),
        "pig": (
            ("pigs_in_stock", "head_day", 90_000),
            ("manure_produced", "g", 500_000_000),
            ("biogas_used", "L", 20_000_000),
        ),
        "fertiliser": (
            ("manure_treated", "g", 600_000_000),
            ("organic_fertiliser_produced", "g", 400_000_000),
            ("organic_fertiliser", "g", 300_000_000),
        ),
    }
    for number in range(count):
        kind = ("grain", "pig", "fertiliser")[number % 3]
        account = f"agr:{kind}-{number:04d}"
        data = {"name": f"Farm {number}", "kind": kind, "district": rng.choice(DISTRICTS)}
        yield Operation("authority.quzhou", account, "FarmRegistered", data, f"reg:{account}")
        for activity, unit, scale in activities[kind]:
            quantity = int(scale * rng.uniform(0.2, 1.5)) if rng.random() > 0.1 else 0
            record = {
                "activity": activity,
                "quantity": quantity,
                "unit": unit,
                "from": "2026-07-01",
                "to": "2026-09-30",
            }
            yield Operation(
                "agri.demo", account, "AgriActivityRecorded", record, f"a:{account}:{activity}"
            )
            if activity in RETIRABLE and quantity >= RETIRABLE[activity]:  # 1 g of it sold on
                lot = f"lot:{account}:{activity}"
                sale = {"period": "2026-Q3", "quantity_g": 1, "ref": lot}
                yield Operation("exchange.demo", account, "ReductionRetired", sale, lot)


def bank_codes(banks: int) -> list[str]:
    return [f"bank{n:02d}" for n in range(1, banks + 1)]


def demo_keys(codes: list[str]) -> list[tuple[str, str]]:
    """(key name, role) of every key the demo registers."""
    return [(f"bank.{code}", "bank") for code in codes] + [
        ("meter.demo", "meter"),
        ("agri.demo", "agri"),
        ("exchange.demo", "exchange"),
        (f"platform.{PLATFORM}", "platform"),
    ]


def operations(
    seed: int, banks: int, persons: int, enterprises: int, farms: int
) -> Iterator[Operation]:
    """The demo's operations in load order, generated one at a time from the seed."""
    rng = random.Random(seed)
    for name, body, source in VERSION_2:  # the authority publishes version 2 of each table
        table = {"name": name, "version": 2, "valid_from": SEED_VALID_FROM}
        data = {**table, "factors": body, "source": source}
        yield Operation(
            "authority.quzhou", "sys:factors", "FactorTablePublished", data, f"{name}-v2"
        )
    yield from _persons(bank_codes(banks), rng, persons)
    yield from _enterprises(rng, enterprises)
    yield from _farms(rng, farms)


def make_plan(seed: int, banks: int, persons: int, enterprises: int, farms: int) -> DemoPlan:
    """The whole demo as data; the same arguments give the same plan."""
    codes = bank_codes(banks)
    ops = list(operations(seed, banks, persons, enterprises, farms))
    return DemoPlan(codes, demo_keys(codes), ops)


def streamed_plan(seed: int, banks: int, persons: int, enterprises: int, farms: int) -> DemoPlan:
    """The same plan, its operations generated as they are loaded."""
    codes = bank_codes(banks)
    return DemoPlan(codes, demo_keys(codes), operations(seed, banks, persons, enterprises, farms))


def estimated_entries(persons: int, enterprises: int, farms: int) -> int:
    """About how many entries the demo makes (for progress): the plan's average per kind."""
    return persons * 7 + enterprises * 26 + farms * 6


def wires(node: Node, plan: DemoPlan, seed: int) -> Iterator[dict[str, Any]]:
    admin, authority = node.admin_key, node.authority_key
    if admin is None or authority is None:
        raise SystemExit(
            "carbon-ledger demo: needs a development node (its admin and authority keys)"
        )
    signers = {name: demo_signer(seed, name) for name, _ in plan.keys}
    signers["authority.quzhou"] = authority
    for name, role in plan.keys:
        data = {"vkey": signers[name].verifier.text, "roles": [role]}
        yield _signed(admin, "sys:keys", "KeyRegistered", data, f"demo-key:{name}")
    for op in plan.operations:
        yield _signed(signers[op.signer], op.account, op.type, op.data, op.id)


def _signed(
    signer: Signer, account: str, type_: str, data: dict[str, Any], id_: str
) -> dict[str, Any]:
    return signed_submission(signer, account, type_, data, id_, AT)


def load(
    node: Node, plan: DemoPlan, seed: int, progress: bool = True, estimate: int | None = None
) -> list[LedgerError]:
    """Submit the plan in batches as it is generated (retry-safe: ids are fixed) and return
    any refusals; progress is shown against the plan's length or the `estimate`."""
    total = len(plan.operations) if isinstance(plan.operations, list) else estimate or 0
    total += len(plan.keys)
    stream = wires(node, plan, seed)
    refusals: list[LedgerError] = []
    started, done = time.monotonic(), 0
    while batch := list(itertools.islice(stream, BATCH)):
        results = node.ledger.submit_batch(batch)
        refusals += [r for r in results if isinstance(r, LedgerError)]
        done += len(batch)
        if progress:
            progress_bar(done, max(total, done), started)
    if progress:
        sys.stderr.write("\n")
    return refusals


def grade_all(node: Node, progress: bool = False) -> None:
    """Integrate what was loaded, then grade every period the demo has."""
    _integrate(node, progress)
    grader, as_of = node.grader(), node.reader.size()
    runs: list[tuple[Kind, str]] = [("industrial", period) for period in QUARTER_MONTHS]
    runs.append(("agri", "2026-Q3"))
    for kind, period in runs:
        started = time.monotonic()
        result = grader.run(kind, period, as_of)
        if progress:
            print(
                f"graded {kind} {period}: {len(result.appended)} grades appended in"
                f" {time.monotonic() - started:.1f} s",
                file=sys.stderr,
            )
    _integrate(node, progress)


def _integrate(node: Node, progress: bool) -> None:
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        progress_bar(done, total, started, "entries integrated")

    node.integrate_pending(show if progress else None)
    if progress:
        sys.stderr.write("\n")


def dispute_some(node: Node, seed: int) -> list[LedgerError]:
    """The first few graded enterprises and farms dispute their 2026-Q3 grade with an
    evidence document, and the authority decides each (upheld and rejected in turn);
    retry-safe like the load (fixed ids, the same document bytes)."""
    admin, authority = node.admin_key, node.authority_key
    assert admin is not None and authority is not None  # wires has refused a production node
    refusals: list[LedgerError] = []
    graded = [(a, "ent") for a in node.log.accounts("ind:")] + [
        (a, "farm") for a in node.log.accounts("agr:")
    ]
    chosen: list[tuple[str, str, str]] = []
    for account, prefix in graded:
        found = node.ledger.accounts.get(account)
        grade = found.state.latest_grade.get("2026-Q3") if found else None
        if grade and len(chosen) < DISPUTED:
            chosen.append((account, prefix, grade))
    for number, (account, prefix, grade) in enumerate(chosen):
        name = f"{prefix}.{account.split(':', 1)[1]}"
        signer = demo_signer(seed, name)
        role = "enterprise" if prefix == "ent" else "farm"
        key = {"vkey": signer.verifier.text, "roles": [role]}
        document = f"Meter calibration certificate, {account}, 2026-09-30".encode()
        digest, _ = node.documents.put(account, document)
        claim = {"grade": grade, "reason": "the steam meter was replaced", "evidence": [digest]}
        try:
            node.ledger.submit(_signed(admin, "sys:keys", "KeyRegistered", key, f"demo-key:{name}"))
            disputed = node.ledger.submit(
                _signed(signer, account, "GradeDisputed", claim, f"dispute:{account}")
            )
            outcome = ("upheld", "rejected")[number % 2]
            decision = {"dispute": disputed.leaf_hash, "outcome": outcome, "note": "checked"}
            node.ledger.submit(
                _signed(authority, account, "DisputeResolved", decision, f"decided:{account}")
            )
        except LedgerError as error:
            refusals.append(error)
    node.integrate_pending()
    return refusals


def demo(args: argparse.Namespace) -> int:
    plan = streamed_plan(args.seed, args.banks, args.persons, args.enterprises, args.farms)
    estimate = estimated_entries(args.persons, args.enterprises, args.farms)
    settings = settings_from(args)
    initialise(settings)
    node = open_node(settings)
    try:
        started = time.monotonic()
        refusals = load(node, plan, args.seed, estimate=estimate)
        print(f"loaded in {time.monotonic() - started:.1f} s", file=sys.stderr)
        for error in refusals[:10]:
            print(f"refused: {error.detail}", file=sys.stderr)
        started = time.monotonic()
        grade_all(node, progress=True)
        print(f"integrated and graded in {time.monotonic() - started:.1f} s", file=sys.stderr)
        refusals += dispute_some(node, args.seed)
    finally:
        node.close()
    return 1 if refusals else 0


def add_demo_command(commands: Any) -> None:
    parser = commands.add_parser("demo", help="load a deterministic demo city")
    parser.add_argument("--banks", type=int, default=26)
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--enterprises", type=int, default=600)
    parser.add_argument("--farms", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1)
    add_data_option(parser)
    parser.set_defaults(func=demo)
