"""The view tables: their columns, and the SQL that creates and updates them on either backend."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """A view table: key columns, columns set when written, and integer columns that add up."""

    name: str
    keys: tuple[str, ...]
    values: tuple[str, ...] = ()  # written as given: set once, or replaced by the newest row
    sums: tuple[str, ...] = ()  # deltas added to what the row holds
    integers: tuple[str, ...] = ()  # keys or values that are integers (sums always are)
    indexes: tuple[str, ...] = ()  # one index each: a column, or columns joined by ","
    replace: bool = False  # a newer row replaces `values` (else they are set once)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.keys, *self.values, *self.sums)

    def column_type(self, column: str) -> str:
        return "BIGINT" if column in self.sums or column in self.integers else "TEXT"


# Bumped with every change to a table's columns or indexes (tests pin the definitions) or
# to the rows a fold writes (6: no personal month rows of zeros): a new version's tables
# and position are new, so after `init` the projector folds the whole log into them from
# zero, and the old version's tables can be dropped.
SCHEMA_VERSION = 6
PREFIX = f"proj{SCHEMA_VERSION}_"
TRACKING = f"{PREFIX}tracking"

BALANCES = Table(
    f"{PREFIX}balances",
    keys=("account",),
    values=("bank", "pid"),
    sums=("points", "co2e_g", "issued", "redeemed", "entries"),
    indexes=("pid",),
)
PERSONS = Table(
    f"{PREFIX}persons", keys=("pid",), sums=("points", "co2e_g", "issued", "redeemed", "accounts")
)
BANKS = Table(
    f"{PREFIX}banks", keys=("bank",), sums=("accounts", "points", "co2e_g", "issued", "redeemed")
)
ENTERPRISES = Table(
    f"{PREFIX}enterprises",
    keys=("account",),
    values=("name", "industry", "district"),
    indexes=("industry",),
)
FARMS = Table(f"{PREFIX}farms", keys=("account",), values=("name", "kind", "district"))
# `period` of a figure: the month of a reading's `to` date, the quarter of an output value
INDUSTRIAL = Table(
    f"{PREFIX}industrial",
    keys=("account", "period"),
    sums=("co2e_g", "scope3_co2e_g", "value_fen", "readings", "outputs"),
    indexes=("period",),
)
AGRICULTURAL = Table(  # `period`: the month of an activity's `to` date
    f"{PREFIX}agricultural",
    keys=("account", "period"),
    sums=("reduction_g", "emission_g", "activities"),
    indexes=("period",),
)
GRADES = Table(
    f"{PREFIX}grades",
    keys=("leaf_hash",),
    values=(
        "account",
        "kind",
        "period",
        "grade",
        "method",
        "position",
        "seq",
        "recorded_at",
        "data",
    ),
    integers=("position", "seq"),
    indexes=("account",),
)
CURRENT_GRADES = Table(
    f"{PREFIX}current_grades",
    keys=("account", "period"),
    values=("kind", "grade", "leaf_hash"),
    indexes=("period",),
    replace=True,
)

DISPUTES = Table(
    f"{PREFIX}disputes",
    keys=("leaf_hash",),
    values=("account", "grade", "reason", "evidence", "recorded_at", "position"),
    integers=("position",),
    indexes=("account",),
)
RESOLUTIONS = Table(
    f"{PREFIX}resolutions",
    keys=("dispute",),
    values=("outcome", "note", "leaf_hash", "recorded_at"),
)

# a personal account's flows by month: behaviours by their date, redemptions and
# reversed redemptions when recorded, reversed behaviours in their behaviour's month
PERSONAL_MONTHS = Table(
    f"{PREFIX}personal_months",
    keys=("account", "period"),
    values=("bank", "pid"),
    sums=("co2e_g", "issued", "redeemed"),
    indexes=("pid",),
)
BANK_MONTHS = Table(
    f"{PREFIX}bank_months", keys=("bank", "period"), sums=("opened", "co2e_g", "issued", "redeemed")
)
# what a principal is told: grades, disputes, points; `owner` is the account's own principal
FEED = Table(
    f"{PREFIX}feed",
    keys=("position",),
    values=("owner", "account", "kind", "leaf_hash", "recorded_at", "data"),
    integers=("position",),
    indexes=("owner,position", "account,position"),
)

RETIREMENTS = Table(  # reductions an exchange retired, by the retiring entry
    f"{PREFIX}retirements",
    keys=("leaf_hash",),
    values=("account", "period", "ref", "exchange", "recorded_at", "retired_g", "position"),
    integers=("retired_g", "position"),
    indexes=("account", "position"),
)

# the inputs an enterprise's figures are made of (scope 1-2 readings, process outputs, output
# values) by leaf, with the quarter they count in, and the reversals of any of them: grade
# evidence takes an industry's figures at a grade's cut of the log from these
INDUSTRIAL_INPUTS = Table(
    f"{PREFIX}industrial_inputs",
    keys=("leaf_hash",),
    values=("account", "period", "kind", "co2e_g", "value_fen", "position"),
    integers=("co2e_g", "value_fen", "position"),
    indexes=("period",),
)
INDUSTRIAL_REVERSALS = Table(
    f"{PREFIX}industrial_reversals",
    keys=("leaf_hash",),
    values=("position",),
    integers=("position",),
)

TABLES = (
    BALANCES,
    PERSONS,
    BANKS,
    ENTERPRISES,
    FARMS,
    INDUSTRIAL,
    AGRICULTURAL,
    GRADES,
    CURRENT_GRADES,
    DISPUTES,
    RESOLUTIONS,
    PERSONAL_MONTHS,
    BANK_MONTHS,
    FEED,
    RETIREMENTS,
    INDUSTRIAL_INPUTS,
    INDUSTRIAL_REVERSALS,
)


def create_statements(table: Table, name: str) -> list[str]:
    """CREATE TABLE (and its index) for `table`, stored under the SQL name `name`."""
    columns = ", ".join(f"{c} {table.column_type(c)} NOT NULL" for c in table.columns)
    statements = [
        f"CREATE TABLE IF NOT EXISTS {name} ({columns}, PRIMARY KEY ({', '.join(table.keys)}))"
    ]
    for columns in table.indexes:
        index = f"{table.name}_{columns.replace(',', '_')}"
        statements.append(f"CREATE INDEX IF NOT EXISTS {index} ON {name} ({columns})")
    return statements


def write_statement(table: Table, *, arrays: bool = False) -> str:
    """INSERT of one row (or, with `arrays`, of many rows given one PostgreSQL array per
    column): sums add to an existing row's; `values` are set once or replaced."""
    if arrays:
        casts = ", ".join(f"%b::{table.column_type(c)}[]" for c in table.columns)
        rows = f"SELECT * FROM unnest({casts})"
    else:
        rows = f"VALUES ({', '.join('?' * len(table.columns))})"
    insert = f"INSERT INTO {{t}} AS v ({', '.join(table.columns)}) {rows}"
    updates = [f"{c} = v.{c} + excluded.{c}" for c in table.sums]
    if table.replace:
        updates += [f"{c} = excluded.{c}" for c in table.values]
    if not updates:
        return insert  # rows written once: a second write is a bug, so let the key refuse it
    return f"{insert} ON CONFLICT ({', '.join(table.keys)}) DO UPDATE SET {', '.join(updates)}"


def definitions() -> list[tuple[object, ...]]:
    """Every table's shape without its name: what SCHEMA_VERSION versions."""
    return [
        (t.name.removeprefix(PREFIX), t.keys, t.values, t.sums, t.integers, t.indexes, t.replace)
        for t in TABLES
    ]
