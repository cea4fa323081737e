"""Totals per period for the city, broken down by district, industry, farm kind or bank, and
the same figures as time series (by month, quarter or year) for the city or one account."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from projections.periods import READ_PERIOD, period_filter, roll_up
from projections.units import decimal_text, with_units
from projections.views import ReadModels

PERSONAL_FLOWS = ("opened", "co2e_g", "issued", "redeemed")
INDUSTRIAL_SUMS = ("co2e_g", "scope3_co2e_g", "value_fen")
AGRI_SUMS = ("reduction_g", "emission_g")
INDUSTRIAL_BY = ("district", "industry")
AGRI_BY = ("district", "kind")


def _sums(columns: Iterable[str]) -> str:
    return ", ".join(f"COALESCE(SUM({c}), 0)" for c in columns)


def personal_totals(
    views: ReadModels, period: str | None, banks: list[str] | None
) -> dict[str, Any]:
    """Behaviours' CO2e, points issued and redeemed and accounts opened in `period` (all time
    if None, with accounts, persons and points outstanding); per bank for `banks` (all if
    empty, none if None: public answers hold the city only)."""
    where, params = period_filter(period)
    rows = views.query(
        ("bank", *PERSONAL_FLOWS),
        f"SELECT bank, {_sums(PERSONAL_FLOWS)} FROM {{bank_months}} WHERE {where} GROUP BY bank",
        params,
    )
    totals: dict[str, Any] = {c: sum(row[c] for row in rows) for c in PERSONAL_FLOWS}
    if period is None:
        (counted,) = views.query(["persons"], "SELECT COUNT(*) FROM {persons}")
        (lifetime,) = views.query(
            ("accounts", "outstanding"),
            "SELECT COALESCE(SUM(accounts), 0), COALESCE(SUM(points), 0) FROM {banks}",
        )
        totals |= lifetime | counted
    if banks is not None:
        totals["banks"] = {
            row["bank"]: with_units({c: row[c] for c in PERSONAL_FLOWS})
            for row in sorted(rows, key=lambda row: row["bank"])
            if not banks or row["bank"] in banks
        }
    return with_units(totals)


def _grouping(column: str | None) -> tuple[str, str]:
    """What to select and the GROUP BY / ORDER BY of a breakdown by `column`; the whole
    city as one row (named 'city') without one."""
    if column is None:
        return "'city'", ""
    return column, f" GROUP BY {column} ORDER BY {column}"


def industrial_totals(
    views: ReadModels, period: str | None, by: str | None
) -> list[dict[str, Any]]:
    """Scope 1-2 and scope 3 CO2e and output value of `period`, for the city or per district
    or industry, with the number of enterprises with live readings or output value."""
    where, params = period_filter(period, "i.period")
    group, grouping = _grouping(f"e.{by}" if by in INDUSTRIAL_BY else None)
    rows = views.query(
        (by or "city", "enterprises", *INDUSTRIAL_SUMS),
        f"SELECT {group}, COUNT(DISTINCT CASE WHEN i.readings > 0 OR i.outputs > 0"
        f" THEN i.account END), {_sums('i.' + c for c in INDUSTRIAL_SUMS)}"
        " FROM {industrial} i JOIN {enterprises} e ON e.account = i.account"
        f" WHERE {where}{grouping}",
        params,
    )
    return [_intensity(with_units(row)) for row in rows]


def _intensity(row: dict[str, Any]) -> dict[str, Any]:
    """Grams of scope 1-2 CO2e per yuan of output value, where there is output value."""
    value = row.get("value_fen", 0)
    shown = Fraction(row["co2e_g"] * 100, value) if value > 0 else None
    return {**row, "intensity_g_per_yuan": decimal_text(shown) if shown is not None else None}


def agri_totals(views: ReadModels, period: str | None, by: str | None) -> list[dict[str, Any]]:
    """Reductions (sinks included) and emissions of `period`, for the city or per district or
    farm kind, with the number of farms with live activities."""
    where, params = period_filter(period, "a.period")
    group, grouping = _grouping(f"f.{by}" if by in AGRI_BY else None)
    rows = views.query(
        (by or "city", "farms", *AGRI_SUMS),
        f"SELECT {group}, COUNT(DISTINCT CASE WHEN a.activities > 0 THEN a.account END),"
        f" {_sums('a.' + c for c in AGRI_SUMS)}"
        " FROM {agricultural} a JOIN {farms} f ON f.account = a.account"
        f" WHERE {where}{grouping}",
        params,
    )
    return [with_units(row) for row in rows]


KINDS = {"ind": ("industrial", "enterprises", "industry"), "agr": ("agricultural", "farms", "kind")}


def grade_distribution(views: ReadModels, period: str | None, by: str | None) -> dict[str, Any]:
    """How many enterprises and farms hold each current grade (per graded period), for the
    city or per district (or industry, or farm kind)."""
    distribution: dict[str, Any] = {}
    for kind, (name, registry, category) in KINDS.items():
        group = f"r.{by}" if by in ("district", category) else "'city'"
        grouped = f"c.period, {group}, c.grade" if group != "'city'" else "c.period, c.grade"
        where, params = ("c.period = ?", [period]) if period else ("1 = 1", [])
        rows = views.query(
            ("period", "group", "grade", "count"),
            f"SELECT c.period, {group}, c.grade, COUNT(*) FROM {{current_grades}} c"
            f" JOIN {{{registry}}} r ON r.account = c.account WHERE c.kind = ? AND {where}"
            f" GROUP BY {grouped} ORDER BY {grouped}",
            [kind, *params],
        )
        periods: dict[str, dict[str, dict[str, int]]] = {}
        for row in rows:
            groups = periods.setdefault(row["period"], {})
            groups.setdefault(row["group"], {})[row["grade"]] = row["count"]
        distribution[name] = periods
    return distribution


def city_totals(views: ReadModels, period: str | None, banks: list[str] | None) -> dict[str, Any]:
    """The city's totals of `period`: personal, industrial, agricultural and grades."""
    return {
        "period": period,
        "personal": personal_totals(views, period, banks),
        "industrial": industrial_totals(views, period, None),
        "agricultural": agri_totals(views, period, None),
        "grades": grade_distribution(views, period, None),
    }


def breakdown(views: ReadModels, period: str | None, by: str) -> dict[str, Any]:
    """The city's totals of `period` per district, or per industry (industrial) or farm kind
    (agricultural); personal figures have no district and are per bank elsewhere."""
    return {
        "period": period,
        "by": by,
        "industrial": industrial_totals(views, period, by if by in INDUSTRIAL_BY else None),
        "agricultural": agri_totals(views, period, by if by in AGRI_BY else None),
        "grades": grade_distribution(views, period, by),
    }


def _series(
    rows: list[dict[str, Any]], sums: tuple[str, ...], granularity: str
) -> list[dict[str, Any]]:
    """Rows keyed by month (or quarter) summed into periods of `granularity`, in order."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(sums, 0))
    for row in rows:
        period = totals[roll_up(row["period"], granularity)]
        for column in sums:
            period[column] += row[column]
    return [with_units({"period": key, **totals[key]}) for key in sorted(totals)]


def city_series(views: ReadModels, granularity: str) -> dict[str, Any]:
    """The city's personal, industrial and agricultural figures per period of `granularity`."""
    personal = views.query(
        ("period", *PERSONAL_FLOWS),
        f"SELECT period, {_sums(PERSONAL_FLOWS)} FROM {{bank_months}} GROUP BY period",
    )
    industrial = views.query(
        ("period", *INDUSTRIAL_SUMS),
        f"SELECT period, {_sums(INDUSTRIAL_SUMS)} FROM {{industrial}} GROUP BY period",
    )
    agri = views.query(
        ("period", *AGRI_SUMS),
        f"SELECT period, {_sums(AGRI_SUMS)} FROM {{agricultural}} GROUP BY period",
    )
    return {
        "granularity": granularity,
        "personal": _series(personal, PERSONAL_FLOWS, granularity),
        "industrial": [_intensity(r) for r in _series(industrial, INDUSTRIAL_SUMS, granularity)],
        "agricultural": _series(agri, AGRI_SUMS, granularity),
    }


PERSONAL_SUMS = ("co2e_g", "issued", "redeemed")
ACCOUNT_SERIES = {
    "per": ("personal_months", PERSONAL_SUMS),
    "ind": ("industrial", INDUSTRIAL_SUMS),
    "agr": ("agricultural", AGRI_SUMS),
}


def account_series(views: ReadModels, account: str, granularity: str) -> list[dict[str, Any]]:
    """One account's figures per period of `granularity`: a person's CO2e and points, an
    enterprise's emissions, output value and intensity, a farm's reductions and emissions."""
    table, sums = ACCOUNT_SERIES[account.split(":", 1)[0]]
    rows = views.query(
        ("period", *sums),
        f"SELECT period, {', '.join(sums)} FROM {{{table}}} WHERE account = ?",
        [account],
    )
    series = _series(rows, sums, granularity)
    return [_intensity(row) for row in series] if account.startswith("ind:") else series


def person_series(views: ReadModels, pid: str, granularity: str) -> list[dict[str, Any]]:
    """A person's CO2e and points per period, summed over their accounts at every bank."""
    rows = views.query(
        ("period", *PERSONAL_SUMS),
        f"SELECT period, {_sums(PERSONAL_SUMS)} FROM {{personal_months}} WHERE pid = ?"
        " GROUP BY period",
        [pid],
    )
    return _series(rows, PERSONAL_SUMS, granularity)


def period_or_default(snapshot: ReadModels, asked: str | None) -> str:
    """`asked` if it is a period, else the newest quarter graded, else the current year."""
    if asked and READ_PERIOD.fullmatch(asked):
        return asked
    rows = snapshot.query(
        ["period"], "SELECT MAX(period) FROM {current_grades} WHERE period LIKE ?", ["%-Q%"]
    )
    return rows[0]["period"] or str(datetime.now(UTC).year)


def grade_changes(snapshot: ReadModels, period: str) -> list[dict[str, Any]]:
    """Accounts whose grade for `period` changed after it was first assigned: from, to."""
    rows = snapshot.query(
        ("account", "grade", "recorded_at"),
        "SELECT account, grade, recorded_at FROM {grades} WHERE period = ?"
        " ORDER BY account, position",
        [period],
    )
    changes: list[dict[str, Any]] = []
    last: dict[str, str] = {}
    for row in rows:
        before = last.get(row["account"])
        if before is not None and before != row["grade"]:
            changes.append({**row, "before": before})
        last[row["account"]] = row["grade"]
    return changes
