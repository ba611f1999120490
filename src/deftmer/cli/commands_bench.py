"""CLI commands (registered on deftmer.cli.app.app)."""
