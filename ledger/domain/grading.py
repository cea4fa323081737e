"""Grades from figures, by integer cross-multiplication (no division into floats), and the
submission a grading service signs for one."""

import hashlib
from fractions import Fraction
from typing import Any, NamedTuple

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


class IndustrialSteps(NamedTuple):
    """How a four-colour grade came about: K against the bands, then the firm's history."""

    k: Fraction | None  # L_firm / L_industry; None where the industry emitted nothing
    band: str  # the colour K reached before the vertical step
    k_max_permille: int | None  # the band's upper bound (None: beyond every band)
    previous: Fraction | None  # the firm's earlier intensity (g per fen), if any
    step: int  # -1 improved, +1 worsened, 0 neither or no history
    grade: str


def industrial_steps(
    method: IndustrialGrading,
    co2e_g: int,
    value_fen: int,
    industry_co2e_g: int,
    industry_value_fen: int,
    previous: tuple[int, int] | None,
) -> IndustrialSteps:
    """K = L_firm / L_industry against the bands, then one step for history.

    L = co2e / output value. K <= k_max/1000 is tested as
    co2e * industry_value * 1000 <= k_max * value * industry_co2e (integers only).
    """
    colours = [band.grade for band in method.bands] + [method.beyond]
    band, bound = method.beyond, None
    for candidate in method.bands:
        limit = candidate.k_max_permille * value_fen * industry_co2e_g
        if co2e_g * industry_value_fen * 1000 <= limit:
            band, bound = candidate.grade, candidate.k_max_permille
            break
    denominator = value_fen * industry_co2e_g
    k = Fraction(co2e_g * industry_value_fen, denominator) if denominator else None
    step, earlier = 0, None
    if previous is not None and previous[1] > 0:
        before_co2e, before_value = previous
        earlier = Fraction(before_co2e, before_value)
        now_times_before = co2e_g * before_value
        before_times_now = before_co2e * value_fen
        if now_times_before * 1000 <= (1000 - method.improved_permille) * before_times_now:
            step = -1
        elif now_times_before > before_times_now:
            step = +1
    index = min(max(colours.index(band) + step, 0), len(colours) - 1)
    return IndustrialSteps(k, band, bound, earlier, step, colours[index])


def industrial_grade(
    method: IndustrialGrading,
    co2e_g: int,
    value_fen: int,
    industry_co2e_g: int,
    industry_value_fen: int,
    previous: tuple[int, int] | None,
) -> str:
    """The four-colour grade of these figures under `method` (see industrial_steps)."""
    figures = (co2e_g, value_fen, industry_co2e_g, industry_value_fen)
    return industrial_steps(method, *figures, previous).grade


def agri_grade(method: AgriGrading, reduction_g: int, emission_g: int) -> str:
    """Neutralisation degree D = (reductions + sinks) / gross emissions, against the thresholds."""
    if reduction_g <= 0:
        return "none"
    if reduction_g * 100 >= method.dark_green_percent * emission_g:
        return "dark_green"
    if reduction_g * 100 >= method.mid_green_percent * emission_g:
        return "mid_green"
    return "light_green"
