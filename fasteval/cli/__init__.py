"""The command line: flags, `.env`, and the run that ties the layers together. All side effects live here."""
