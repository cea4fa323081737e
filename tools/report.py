"""`carbon-ledger report --period P [--out DIR]`: the regulator's report of a period, as CSV
files and a one-page summary (summary.md) naming the log size and checkpoint it reflects.

The read models are brought up to the log first (safely beside a running projector), then
every file is read from one snapshot of them, so the files agree with each other and with
the checkpoint the summary quotes."""

import argparse
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from ledger.errors import Invalid
from ledger.files import write_atomically
from ledger.node import Node
from projections import breakdowns, registries
from projections.exports import csv_bytes
from projections.periods import check_read_period
from projections.registries import GradedFilter, every_item
from projections.runner import Projector
from projections.views import Snapshot, Views, as_of
from tools.settings import add_data_option, open_from

GRADED = ("enterprises", "farms")
PAGE = 1000
GROUP_COLUMNS = {
    "industrial": (
        "enterprises",
        *breakdowns.INDUSTRIAL_SUMS,
        "co2e_t",
        "value_yuan",
        "intensity_g_per_yuan",
    ),
    "agricultural": ("farms", *breakdowns.AGRI_SUMS, "reduction_t", "emission_t"),
}


def _is_grade_period(period: str) -> bool:
    return len(period) == 4 or "-Q" in period


def report_files(
    snapshot: Snapshot, period: str
) -> dict[str, tuple[list[dict[str, Any]], tuple[str, ...]]]:
    """Each CSV file's rows and columns, by file name."""
    personal = breakdowns.personal_totals(snapshot, period, [])
    banks = [{"bank": bank, **row} for bank, row in personal.pop("banks").items()]
    files: dict[str, tuple[list[dict[str, Any]], tuple[str, ...]]] = {
        "personal-by-bank.csv": (
            [*banks, {"bank": "city", **personal}],
            ("bank", *breakdowns.PERSONAL_FLOWS, "co2e_t"),
        ),
    }
    for by in ("district", "industry"):
        rows = breakdowns.industrial_totals(snapshot, period, by)
        files[f"industrial-by-{by}.csv"] = (rows, (by, *GROUP_COLUMNS["industrial"]))
    for by in ("district", "kind"):
        rows = breakdowns.agri_totals(snapshot, period, by)
        files[f"agricultural-by-{by}.csv"] = (rows, (by, *GROUP_COLUMNS["agricultural"]))
    if _is_grade_period(period):
        distribution = breakdowns.grade_distribution(snapshot, period, "district")
        files["grades-by-district.csv"] = (
            [
                {"kind": kind, "district": district, "grade": grade, "count": count}
                for kind, periods in distribution.items()
                for district, grades in periods.get(period, {}).items()
                for grade, count in grades.items()
            ],
            ("kind", "district", "grade", "count"),
        )
        for name in GRADED:
            category = "industry" if name == "enterprises" else "kind"
            where = GradedFilter(period=period)
            read = partial(registries.graded_registry, snapshot, name, where, limit=PAGE)
            rows = every_item(read)
            files[f"{name}.csv"] = (rows, ("account", "name", category, "district", "grade"))
        green = snapshot.green_list_changes(period)
        changes = {a: "joined" for a in green["joined"]} | {a: "dropped" for a in green["dropped"]}
        listed = [{**farm, "change": changes.get(farm["account"], "")} for farm in green["farms"]]
        dropped = [{"account": a, "change": "dropped"} for a in green["dropped"]]
        files["green-list.csv"] = (
            listed + dropped,
            ("account", "name", "kind", "district", "grade", "change"),
        )
    disputes = every_item(lambda c: registries.disputes(snapshot, None, None, c, PAGE))
    files["disputes.csv"] = (disputes, registries.DISPUTE_COLUMNS)
    return files


def _summary(
    period: str, stated: dict[str, Any], files: dict[str, Any], city: dict[str, Any]
) -> str:
    personal, checkpoint = city["personal"], stated["checkpoint"]
    industrial = city["industrial"][0] if city["industrial"] else {}
    agri = city["agricultural"][0] if city["agricultural"] else {}
    lines = [
        f"# Carbon Ledger report, {period}",
        "",
        f"As of log size {stated['log_size']}"
        + (
            f", checkpoint of size {checkpoint['size']}:" if checkpoint else " (no checkpoint yet)."
        ),
        "",
        *(["```", checkpoint["note"].rstrip("\n"), "```", ""] if checkpoint else []),
        "| part | figure |",
        "|---|---|",
        f"| personal: reductions | {personal['co2e_t']} t CO2e |",
        f"| personal: points issued / redeemed | {personal['issued']} / {personal['redeemed']} |",
        f"| personal: accounts opened | {personal['opened']} |",
        f"| industrial: scope 1-2 emissions | {industrial.get('co2e_t', '0')} t CO2e |",
        f"| industrial: output value | {industrial.get('value_yuan', '0.00')} yuan |",
        f"| agricultural: reductions and sinks | {agri.get('reduction_t', '0')} t CO2e |",
        f"| agricultural: emissions | {agri.get('emission_t', '0')} t CO2e |",
    ]
    if "green-list.csv" in files:
        green = files["green-list.csv"][0]
        joined = sum(1 for f in green if f["change"] == "joined")
        dropped = sum(1 for f in green if f["change"] == "dropped")
        lines.append(
            f"| green list | {len(green) - dropped} farms ({joined} joined, {dropped} dropped) |"
        )
    disputes = files["disputes.csv"][0]
    still_open = sum(1 for d in disputes if d["outcome"] == "open")
    lines += [f"| disputes | {len(disputes)} ({still_open} open) |", "", "Files:", ""]
    lines += [f"- `{name}`: {len(rows)} rows" for name, (rows, _) in sorted(files.items())]
    return "\n".join(lines) + "\n"


def write_report(node: Node, period: str, out: Path) -> dict[str, Any]:
    """Catch the read models up, then write every file from one snapshot; the as_of."""
    started = time.monotonic()
    folded = Projector(node.store).catch_up(
        lambda done: print(f"report: read models +{done} entries", file=sys.stderr)
    )
    views = Views(node.store)
    with views.snapshot() as snapshot:
        files = report_files(snapshot, period)
        city = breakdowns.city_totals(snapshot, period, None)
        position = snapshot.position
    stated = as_of(node, position)
    size = stated["log_size"]
    for name, (rows, columns) in files.items():
        write_atomically(out / name, csv_bytes(rows, columns), mode=0o644)
    write_atomically(out / "summary.md", _summary(period, stated, files, city).encode(), mode=0o644)
    seconds = time.monotonic() - started
    print(
        f"report: {len(files)} CSV files and summary.md in {out} ({folded} entries folded first,"
        f" {seconds:.1f} s), as of log size {size}",
        file=sys.stderr,
    )
    return stated


def report(args: argparse.Namespace) -> int:
    try:
        period = check_read_period(args.period)
    except Invalid as error:
        print(f"carbon-ledger report: {error.detail}", file=sys.stderr)
        return 2
    node = open_from(args)
    try:
        write_report(node, period, args.out or Path(f"report-{period}"))
    finally:
        node.close()
    return 0


def add_report_command(commands: Any) -> None:
    parser = commands.add_parser("report", help="write the regulator's report of a period")
    parser.add_argument("--period", required=True, help="YYYY, YYYY-Qn or YYYY-MM")
    parser.add_argument("--out", type=Path, help="directory for the files (default report-P)")
    add_data_option(parser)
    parser.set_defaults(func=report)
