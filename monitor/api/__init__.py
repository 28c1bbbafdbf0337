"""The HTTP API (FastAPI): routes, dependencies, the auth check, and the wiring shared with the CLI."""
