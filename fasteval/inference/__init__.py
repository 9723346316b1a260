"""Requests out, results stored: the async client, endpoint routing, the runner and the run store."""
