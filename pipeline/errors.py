"""The errors a stage turns into a one-line message and exit status 2 (``pipeline.cli``).

Both are ``ValueError``s whose message names the file and the problem. More specific errors
derive from ``DataError`` where they are raised (``CheckpointError``, ``AccompanyError``, ...).
"""


class ConfigError(ValueError):
    """A params file that does not match the schema; the message names the file and the key."""


class DataError(ValueError):
    """Input data that cannot be used at all (a missing or malformed list, a damaged file);
    the message names the file."""
