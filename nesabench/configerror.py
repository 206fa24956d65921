"""The error for a configuration that cannot run: the CLI turns it into a message and exit 2."""


class ConfigError(ValueError):
    """A configuration that cannot be run, with a message that says what is accepted."""
