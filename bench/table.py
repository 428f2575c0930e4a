"""Collecting figures (medians over runs) and printing them as one aligned table plus the commands behind them."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One number of the table: the median of its samples, with the spread and the command that made it."""

    scenario: str
    metric: str
    unit: str
    samples: list[float]
    ref: int
    digits: int = 1

    def _fmt(self, value: float) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        return f"{value:,.{self.digits}f}"

    @property
    def median(self) -> str:
        """The median, formatted."""
        values = [s for s in self.samples if s is not None and not math.isnan(s)]
        return self._fmt(statistics.median(values)) if values else "n/a"

    @property
    def spread(self) -> str:
        """min-max over the runs, formatted (empty for a single run)."""
        values = [s for s in self.samples if s is not None and not math.isnan(s)]
        if len(values) < 2:
            return ""
        return f"{self._fmt(min(values))} - {self._fmt(max(values))}"


@dataclass
class Report:
    """Every figure, and the numbered commands/parameters they came from."""

    figures: list[Figure] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def command(self, text: str) -> int:
        """Register how a group of figures was produced; returns its reference number."""
        self.commands.append(text)
        return len(self.commands)

    def add(self, scenario: str, metric: str, unit: str, samples: list[float], ref: int, digits: int = 1) -> None:
        """Add one figure (its samples: one per run)."""
        self.figures.append(Figure(scenario, metric, unit, list(samples), ref, digits))

    def render(self) -> str:
        """The table, then the commands, then the notes."""
        header = ("scenario", "figure", "median", "unit", "min - max", "runs", "ref")
        rows = [(f.scenario, f.metric, f.median, f.unit, f.spread, str(len(f.samples)), f"[{f.ref}]")
                for f in self.figures]
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        right = {2, 4, 5}

        def line(row: tuple[str, ...]) -> str:
            cells = [str(c).rjust(w) if i in right else str(c).ljust(w)
                     for i, (c, w) in enumerate(zip(row, widths, strict=True))]
            return "  ".join(cells).rstrip()

        rule = "  ".join("-" * w for w in widths)
        out = [line(header), rule, *(line(row) for row in rows)]
        out.append("")
        out.append("How each figure was produced:")
        out += [f"  [{n}] {text}" for n, text in enumerate(self.commands, start=1)]
        if self.notes:
            out.append("")
            out += [f"  note: {note}" for note in self.notes]
        return "\n".join(out)
