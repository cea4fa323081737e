"""What a statement reports for an account: points and grams CO2e, by account kind."""

from typing import NamedTuple

from ledger.domain.agricultural import FarmAccount
from ledger.domain.industrial import EnterpriseAccount
from ledger.domain.personal import PersonalAccount


def balance(state: object) -> tuple[int, int]:
    """(points, co2e_g): a person's points and reduction; an enterprise's live scope 1-2
    emissions; a farm's net reduction (reductions and sinks less emissions); else zero."""
    if isinstance(state, PersonalAccount):
        return state.points, state.co2e_g
    if isinstance(state, EnterpriseAccount):
        live = (r for leaf, r in state.readings.items() if leaf not in state.reversed)
        return 0, sum(r.co2e_g for r in live if not r.scope3)
    if isinstance(state, FarmAccount):
        counted = [a for leaf, a in state.activities.items() if leaf not in state.reversed]
        return 0, sum(a.reduction_g for a in counted) - sum(a.emission_g for a in counted)
    return 0, 0


class PeriodFigures(NamedTuple):
    """What an account proves for one period, in grams, each figure non-negative."""

    kind: str  # person, enterprise or farm
    reduction_g: int  # reductions and sinks: what an exchange may retire
    emission_g: int  # gross emissions: never sold
    retired_g: int  # of reduction_g, already retired


def period_figures(state: object, period: str) -> PeriodFigures | None:
    """A person's reduction, an enterprise's scope 1-2 and process emissions, a farm's
    reductions and emissions, in `period`; None for any other account."""
    if isinstance(state, PersonalAccount):
        return PeriodFigures("person", state.reduction(period), 0, state.retired_in(period))
    if isinstance(state, EnterpriseAccount):
        emission = sum(r.co2e_g for r in state.live_readings(period).values())
        return PeriodFigures("enterprise", 0, emission, 0)
    if isinstance(state, FarmAccount):
        figures = state.figures(period)
        reduction, emission = (figures[0], figures[1]) if figures else (0, 0)
        return PeriodFigures("farm", reduction, emission, state.retired_in(period))
    return None
