"""Drift: the statistics registry, the decision rule with its false-alarm budget, the domain classifier."""
