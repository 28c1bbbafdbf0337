"""The realistic demo: a wheel-assembly simulator and the end-to-end walkthrough of `driftline demo`."""
