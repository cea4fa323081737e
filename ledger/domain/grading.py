"""Grades from figures, by integer cross-multiplication (no division into floats), and the
submission a grading service signs for one."""

import hashlib
from typing import Any

from crypto.canonical import canonical_json
from crypto.keys import Signer
from crypto.records import signed_submission
from ledger.domain.reference import AgriGrading, IndustrialGrading


def grade_submission(signer: Signer, account: str, data: dict[str, Any]) -> dict[str, Any]:
    """The signed GradeAssigned of `data` on `account`; its id is the data's digest, so the
    same grade sent twice is one entry. CanonicalError if the data has no canonical form."""
    digest = hashlib.sha256(canonical_json(data)).hexdigest()[:24]
    grade_id = f"grade:{data['period']}:{digest}"
    return signed_submission(signer, account, "GradeAssigned", data, grade_id)


def _step(colours: list[str], grade: str, by: int) -> str:
    index = min(max(colours.index(grade) + by, 0), len(colours) - 1)
    return colours[index]


def industrial_grade(
    method: IndustrialGrading,
    co2e_g: int,
    value_fen: int,
    industry_co2e_g: int,
    industry_value_fen: int,
    previous: tuple[int, int] | None,
) -> str:
    """Four-colour grade: K = L_firm / L_industry against the bands, then one step for history.

    L = co2e / output value. K <= k_max/1000 is tested as
    co2e * industry_value * 1000 <= k_max * value * industry_co2e.
    """
    colours = [band.grade for band in method.bands] + [method.beyond]
    grade = method.beyond
    for band in method.bands:
        if co2e_g * industry_value_fen * 1000 <= band.k_max_permille * value_fen * industry_co2e_g:
            grade = band.grade
            break
    if previous is None or previous[1] <= 0:
        return grade
    before_co2e, before_value = previous
    now_times_before = co2e_g * before_value
    before_times_now = before_co2e * value_fen
    if now_times_before * 1000 <= (1000 - method.improved_permille) * before_times_now:
        return _step(colours, grade, -1)
    if now_times_before > before_times_now:
        return _step(colours, grade, +1)
    return grade


def agri_grade(method: AgriGrading, reduction_g: int, emission_g: int) -> str:
    """Neutralisation degree D = (reductions + sinks) / gross emissions, against the thresholds."""
    if reduction_g <= 0:
        return "none"
    if reduction_g * 100 >= method.dark_green_percent * emission_g:
        return "dark_green"
    if reduction_g * 100 >= method.mid_green_percent * emission_g:
        return "mid_green"
    return "light_green"
