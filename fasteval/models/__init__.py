"""Models: the registry of servable models, their families' request settings, and the servers running them."""
