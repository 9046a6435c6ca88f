"""The error every layer raises for a setting that cannot work."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot work; the message names the field and what was expected."""

    def __init__(self, field: str, expected: str, got: object):
        self.field, self.expected, self.got = field, expected, got
        super().__init__(f"{field}: expected {expected}, got {got!r}")


def require(condition: bool, field: str, expected: str, got: object) -> None:
    if not condition:
        raise ConfigError(field, expected, got)
