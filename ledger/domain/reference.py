"""Reference data on `sys:` accounts: factor tables and grading methods, versioned and cited."""

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, cast

import msgspec

from ledger.domain.common import Applied, Context, Effect, Rules, event_rule, parse_date
from ledger.errors import Conflict, Invalid

FACTORS_ACCOUNT = "sys:factors"
INDUSTRIAL_COLOURS = ["dark_green", "light_green", "yellow", "red"]
Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
METHODS_ACCOUNT = "sys:methods"


class BehaviourFactor(msgspec.Struct, forbid_unknown_fields=True):
    """Grams per behaviour (or, with `co2e_ug_per_unit`, micrograms per unit counted: Wh or
    litres saved against a baseline), and caps per person per day, month or year."""

    co2e_g: NonNegative
    daily_cap: Positive | None = None
    monthly_cap: Positive | None = None
    yearly_cap: Positive | None = None
    co2e_ug_per_unit: NonNegative | None = None


class PersonalFactors(msgspec.Struct, forbid_unknown_fields=True):
    """`personal-factors`: grams CO2e per behaviour, caps per account, grams per point."""

    g_per_point: Positive
    behaviours: dict[str, BehaviourFactor]


class EnergyFactor(msgspec.Struct, forbid_unknown_fields=True):
    unit: Literal["Wh", "MJ", "L", "g"]
    co2e_ug_per_unit: NonNegative
    scope3: bool = False


class ProductFactor(msgspec.Struct, forbid_unknown_fields=True):
    """Process CO2 of a product (IPCC 2006 defaults until the national values are tabled)."""

    unit: Literal["g"]
    co2e_ug_per_unit: NonNegative


class IndustrialFactors(msgspec.Struct, forbid_unknown_fields=True):
    """`industrial-factors`: micrograms CO2e per base unit of each metered energy and, from
    version 2, per gram of each product with process emissions."""

    energies: dict[str, EnergyFactor]
    products: dict[str, ProductFactor] = msgspec.field(default_factory=dict)


class ActivityFactor(msgspec.Struct, forbid_unknown_fields=True):
    """An agricultural data item: its unit, its factor and what it is ("record": a datum
    with no factor yet, zero effect), and from version 2 which kinds of farm report it."""

    unit: str
    co2e_ug_per_unit: NonNegative
    kind: Literal["reduction", "sink", "emission", "record"]
    farms: list[Literal["grain", "pig", "fertiliser"]] | None = None  # None: any farm


class AgriFactors(msgspec.Struct, forbid_unknown_fields=True):
    """`agri-factors`: micrograms CO2e per unit of each activity, and whether it reduces."""

    activities: dict[str, ActivityFactor]


class IndustrialBand(msgspec.Struct, forbid_unknown_fields=True):
    grade: str
    k_max_permille: Positive


class IndustrialGrading(msgspec.Struct, forbid_unknown_fields=True):
    """`industrial-grading`: K bands (greenest first), the grade beyond them, the vertical step."""

    bands: list[IndustrialBand]
    beyond: str
    improved_permille: Annotated[int, msgspec.Meta(ge=0, le=1000)]
    # the firm's own history: the same period a year earlier, or its trailing average over
    # the `trailing_periods` periods before (their summed co2e over their summed value)
    vertical: Literal["same_period_last_year", "trailing_average"] = "same_period_last_year"
    trailing_periods: Annotated[int, msgspec.Meta(ge=1, le=20)] = 4


class AgriGrading(msgspec.Struct, forbid_unknown_fields=True):
    """`agri-grading`: neutralisation degree D thresholds, in percent."""

    dark_green_percent: Positive
    mid_green_percent: Positive


Factors = PersonalFactors | IndustrialFactors | AgriFactors
Method = IndustrialGrading | AgriGrading
Body = TypeVar("Body", bound=Factors | Method)

FACTOR_SCHEMAS: dict[str, type[Factors]] = {
    "personal-factors": PersonalFactors,
    "industrial-factors": IndustrialFactors,
    "agri-factors": AgriFactors,
}
METHOD_SCHEMAS: dict[str, type[Method]] = {
    "industrial-grading": IndustrialGrading,
    "agri-grading": AgriGrading,
}


class FactorTablePublished(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    version: int
    valid_from: str
    factors: dict[str, Any]  # JSON checked against FACTOR_SCHEMAS[name]
    source: str


class GradingMethodPublished(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    version: int
    valid_from: str
    params: dict[str, Any]  # JSON checked against METHOD_SCHEMAS[name]


@dataclass(frozen=True)
class Published:
    """One version of a factor table or grading method."""

    name: str
    version: int
    valid_from: str
    body: Factors | Method  # of the schema FACTOR_SCHEMAS or METHOD_SCHEMAS gives its name
    leaf_hash: str

    @property
    def cite(self) -> str:
        return f"{self.name}@{self.version}"

    def body_as(self, schema: type[Body]) -> Body:
        """The body as the caller knows it to be: the schema its name gives (nothing checked)."""
        return cast(Body, self.body)


@dataclass
class ReferenceBook:
    """Every published version, by name, oldest first."""

    versions: dict[str, list[Published]] = field(default_factory=dict)

    def current(self, name: str, on: str, field_name: str) -> Published:
        """The newest version of `name` valid on date `on`; Invalid if there is none."""
        valid = [p for p in self.versions.get(name, []) if p.valid_from <= on]
        if not valid:
            raise Invalid(f"no {name} is valid on {on}", field_name)
        return max(valid, key=lambda p: (p.valid_from, p.version))

    def cited(self, cite: str) -> Published | None:
        """The version a `NAME@N` citation names."""
        name, _, version = cite.rpartition("@")
        for published in self.versions.get(name, []):
            if str(published.version) == version:
                return published
        return None

    def check_next(self, name: str, version: int, valid_from: str) -> None:
        parse_date(valid_from, "submission.data.valid_from")
        expected = len(self.versions.get(name, [])) + 1
        if version != expected:
            raise Conflict(
                f"{name} is at version {expected - 1}; publish {expected}",
                "submission.data.version",
            )

    def add(
        self, name: str, version: int, valid_from: str, body: Factors | Method, leaf_hash: str
    ) -> None:
        self.versions.setdefault(name, []).append(
            Published(name, version, valid_from, body, leaf_hash)
        )


def _body(schemas: dict[str, type[Body]], name: str, body: dict[str, Any], field: str) -> Body:
    schema = schemas.get(name)
    if schema is None:
        raise Invalid(f"unknown name {name!r}; one of {sorted(schemas)}", "submission.data.name")
    try:
        return msgspec.convert(body, schema, strict=True)
    except msgspec.ValidationError as error:
        raise Invalid(str(error), field) from None


def _decide_factors(book: ReferenceBook, data: FactorTablePublished, _: Context) -> Effect:
    _body(FACTOR_SCHEMAS, data.name, data.factors, "submission.data.factors")
    book.check_next(data.name, data.version, data.valid_from)
    return {}


def _check_method(body: Method) -> None:
    """Grades must come out as the colours GradeAssigned knows, in order, bands increasing."""
    if isinstance(body, IndustrialGrading):
        colours = [band.grade for band in body.bands] + [body.beyond]
        limits = [band.k_max_permille for band in body.bands]
        if colours != INDUSTRIAL_COLOURS or limits != sorted(set(limits)):
            raise Invalid(
                f"bands must grade {INDUSTRIAL_COLOURS[:-1]} with increasing k_max_permille, "
                f"beyond {INDUSTRIAL_COLOURS[-1]}",
                "submission.data.params",
            )
    elif body.dark_green_percent < body.mid_green_percent:
        raise Invalid("dark_green_percent is below mid_green_percent", "submission.data.params")


def _decide_method(book: ReferenceBook, data: GradingMethodPublished, _: Context) -> Effect:
    _check_method(_body(METHOD_SCHEMAS, data.name, data.params, "submission.data.params"))
    book.check_next(data.name, data.version, data.valid_from)
    return {}


def _add_factors(book: ReferenceBook, entry: Applied[FactorTablePublished]) -> None:
    data = entry.data
    body = _body(FACTOR_SCHEMAS, data.name, data.factors, "submission.data.factors")
    book.add(data.name, data.version, data.valid_from, body, entry.leaf_hash)


def _add_method(book: ReferenceBook, entry: Applied[GradingMethodPublished]) -> None:
    data = entry.data
    body = _body(METHOD_SCHEMAS, data.name, data.params, "submission.data.params")
    book.add(data.name, data.version, data.valid_from, body, entry.leaf_hash)


AUTHORITY = frozenset({"authority"})
RULES: Rules = {
    "FactorTablePublished": event_rule(
        FACTORS_ACCOUNT, AUTHORITY, FactorTablePublished, _decide_factors, _add_factors
    ),
    "GradingMethodPublished": event_rule(
        METHODS_ACCOUNT, AUTHORITY, GradingMethodPublished, _decide_method, _add_method
    ),
}
ACCOUNT_KINDS = {FACTORS_ACCOUNT: ReferenceBook, METHODS_ACCOUNT: ReferenceBook}
