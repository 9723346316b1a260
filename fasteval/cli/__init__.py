"""The command line: flags, `.env`, and the run that ties the layers together. All side effects live here."""

from fasteval.cli.memory import return_freed_pages_at_once

return_freed_pages_at_once()  # before any CLI module loads polars (fasteval.cli.memory says why)
