"""What a statement reports for an account: points and grams CO2e, by account kind."""

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
