"""Errors the user can act on. The CLI prints these as one line and exits non-zero."""


class UserError(Exception):
    """A mistake in input, layout or configuration: message says what, where, and what to do."""

    exit_code = 2


class DataLayoutError(UserError):
    """A dataset root or annotation file does not match the expected layout."""


class ConfigError(UserError):
    """A config file or override is invalid."""


class CheckpointError(UserError):
    """A checkpoint folder is missing, incomplete, or from a different config."""
