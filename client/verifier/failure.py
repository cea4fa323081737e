"""What a verification reports when a check does not hold."""

from dataclasses import dataclass
from typing import Any


@dataclass
class Failure(Exception):
    """The first thing that does not hold."""

    check: str
    where: str
    field: str | None = None
    expected: Any = None
    found: Any = None

    def __str__(self) -> str:
        text = f"{self.check} failed at {self.where}"
        if self.field:
            text += f", field {self.field}"
        if self.expected is not None or self.found is not None:
            text += f": expected {self.expected!r}, found {self.found!r}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "where": self.where,
            "field": self.field,
            "expected": self.expected,
            "found": self.found,
        }
