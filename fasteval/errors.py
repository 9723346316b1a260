"""User-facing errors: each carries one line that names the cause and the fix."""


class FastevalError(Exception):
    """An error the CLI prints as one line (no traceback) and exits non-zero on."""


class ScoringError(FastevalError):
    """Predictions whose shape the benchmark's scoring rule cannot handle."""
