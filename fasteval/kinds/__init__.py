"""Answer kinds: what differs between benchmark answer types (prompt text, extraction, judge policy)."""
