"""How numbers read on the console, the same in every table fasteval prints."""

from __future__ import annotations


def fmt_number(value: object, *, missing: str = "-") -> str:
    """Fractions to 4 places, everything else to 2; `missing` for None; non-numbers as text."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)
