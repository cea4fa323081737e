"""Integer query parameters as digits only: an integer parse would take "+5", " 5" or "5\f".

Fifteen digits stay below 2^53, so every value the schema admits is one the ledger can hold.
"""

from typing import Annotated

from fastapi import Query

INDEX_PATTERN = "^[0-9]{1,15}$"
SIZE_PATTERN = "^[1-9][0-9]{0,14}$"
AFTER_SEQ_PATTERN = "^(-1|[0-9]{1,15})$"  # -1: before the first entry


def index_query(description: str, alias: str | None = None) -> object:
    """A log index or seq: 0 upwards (`alias`: the name on the wire)."""
    return Query(pattern=INDEX_PATTERN, description=description, alias=alias)


def size_query(description: str, alias: str | None = None) -> object:
    """A tree size or count: 1 upwards (`alias`: the name on the wire)."""
    return Query(pattern=SIZE_PATTERN, description=description, alias=alias)


def after_seq_query(description: str) -> object:
    """`after_seq`: a seq, or -1 for from the first entry."""
    return Query(pattern=AFTER_SEQ_PATTERN, description=description, alias="after_seq")


After = Annotated[str | None, index_query("answer once the read models include this log index")]
HistoryParam = Annotated[
    bool,
    Query(
        description="answer as a bundle holding the summed accounts' whole chains, which "
        "`carbon-ledger verify` replays to recompute the statement"
    ),
]
