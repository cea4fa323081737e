"""Why an account has its grade: K as an exact fraction and a decimal, the band it fell in,
the vertical step (or a farm's neutralisation degree against the thresholds), and the graded
figures broken down by energy type, process and output, from the entries the grade cites."""

from collections import defaultdict
from fractions import Fraction
from typing import Any

from crypto.records import decode_entry
from ledger.domain.grading import industrial_steps
from ledger.domain.reference import AgriGrading, IndustrialGrading, ReferenceBook
from ledger.storage.base import LogRecorder
from projections.units import decimal_text, fraction_text, tonnes, yuan

STEPS = {-1: "improved", 0: "none", 1: "worsened"}


def _ratio(value: Fraction | None) -> dict[str, str] | None:
    return (
        None
        if value is None
        else {"fraction": fraction_text(value), "decimal": decimal_text(value)}
    )


def _intensity(value: Fraction | None) -> str | None:
    """Grams per fen as grams per yuan, a decimal string."""
    return None if value is None else decimal_text(value * 100)


def explain_industrial(method: IndustrialGrading, grade: dict[str, Any]) -> dict[str, Any]:
    previous = grade.get("previous")
    history = (previous["co2e_g"], previous["value_fen"]) if previous else None
    figures = (grade["co2e_g"], grade["value_fen"])
    industry = (grade["industry_co2e_g"], grade["industry_value_fen"])
    steps = industrial_steps(method, *figures, *industry, history)
    now = Fraction(*figures) if figures[1] else None
    change = now / steps.previous - 1 if now is not None and steps.previous else None
    return {
        "k": _ratio(steps.k),
        "band": {
            "grade": steps.band,
            "k_max": None
            if steps.k_max_permille is None
            else _ratio(Fraction(steps.k_max_permille, 1000)),
            "bands": [{"grade": b.grade, "k_max_permille": b.k_max_permille} for b in method.bands],
        },
        "vertical": {
            "basis": method.vertical,
            "intensity_g_per_yuan": _intensity(now),
            "previous_intensity_g_per_yuan": _intensity(steps.previous),
            "change": None if change is None else decimal_text(change),
            "improved_permille": method.improved_permille,
            "step": STEPS[steps.step],
            "applied": steps.step != 0 and steps.grade != steps.band,
        },
        "grade": steps.grade,
    }


def explain_agri(method: AgriGrading, grade: dict[str, Any]) -> dict[str, Any]:
    reduction, emission = grade["reduction_g"], grade["emission_g"]
    degree = Fraction(reduction, emission) if emission else None
    return {
        "neutralisation": _ratio(degree),
        "thresholds_percent": {
            "dark_green": method.dark_green_percent,
            "mid_green": method.mid_green_percent,
        },
        "grade": grade["grade"],
    }


def breakdown(log: LogRecorder, inputs: list[str]) -> list[dict[str, Any]]:
    """The grade's input entries summed by source: each energy type, each process product,
    output value (enterprises) or activity (farms), in grams and base units."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    # read at once; an input cited but not integrated yet is left out (the figures still hold)
    for leaf in log.leaves_by_hash([bytes.fromhex(leaf) for leaf in inputs]):
        entry = decode_entry(leaf.entry)
        data, effect = entry.submission.data, entry.effect
        source = _source(entry.submission.type, data)
        row = sums[source]
        row["entries"] += 1
        if "quantity" in data:
            row["quantity"] += data["quantity"]
        for column in ("co2e_g", "value_fen", "reduction_g", "emission_g"):
            if column in effect:
                row[column] += effect[column]
    return [_shown(source, row) for source, row in sorted(sums.items())]


SOURCES = {  # an input's type -> the data field naming its source, and the source's kind
    "EnergyReadingRecorded": ("energy", "energy"),
    "ProcessOutputRecorded": ("product", "process"),
    "AgriActivityRecorded": ("activity", "activity"),
}


def _source(kind: str, data: dict[str, Any]) -> str:
    if kind not in SOURCES:
        return "output_value"
    field, prefix = SOURCES[kind]
    return f"{prefix}:{data[field]}"


def _shown(source: str, row: dict[str, int]) -> dict[str, Any]:
    shown: dict[str, Any] = {"source": source, **row}
    for column, value in row.items():
        if column.endswith("_g"):
            shown[column[:-2] + "_t"] = tonnes(value)
        elif column.endswith("_fen"):
            shown[column[:-4] + "_yuan"] = yuan(value)
    return shown


def explain(
    book: ReferenceBook, log: LogRecorder | None, grade: dict[str, Any]
) -> dict[str, Any] | None:
    """A recorded grade's explanation, or None if the method it cites is unknown here; with
    the `log`, the breakdown of its figures by source too."""
    method = book.cited(grade["method"])
    if method is None:
        return None
    if "industry" in grade:
        explained = explain_industrial(method.body_as(IndustrialGrading), grade)
    else:
        explained = explain_agri(method.body_as(AgriGrading), grade)
    return explained if log is None else {**explained, "breakdown": breakdown(log, grade["inputs"])}


def explain_history(
    book: ReferenceBook, log: LogRecorder | None, history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each grade of a history with its explanation; the breakdown by energy and process only
    with the `log` (for those who may read the account itself: a lender sees totals, colour
    and method)."""
    return [{**grade, "explanation": explain(book, log, grade["data"])} for grade in history]
