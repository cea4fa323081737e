"""Bar charts as SVG geometry: the template draws what these numbers say (no script)."""

from dataclasses import dataclass

BAR_HEIGHT = 22
GAP = 6
LABEL_WIDTH = 120
CHART_WIDTH = 520


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    shown: str  # the value as the page prints it (tonnes, yuan...)
    y: int
    width: int


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    width: int = CHART_WIDTH


def bar_chart(rows: list[tuple[str, int, str]]) -> Chart:
    """Horizontal bars for (label, value, shown) rows, scaled to the largest value."""
    largest = max((abs(value) for _, value, _ in rows), default=0)
    room = CHART_WIDTH - LABEL_WIDTH - 110
    bars = [
        Bar(
            label,
            value,
            shown,
            index * (BAR_HEIGHT + GAP),
            abs(value) * room // largest if largest else 0,
        )
        for index, (label, value, shown) in enumerate(rows)
    ]
    return Chart(bars, max(len(bars) * (BAR_HEIGHT + GAP), BAR_HEIGHT))
