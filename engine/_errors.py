"""The one exception type for bad input, so callers (CLI, HTTP service) can map it to a message."""

from __future__ import annotations


class ConfigError(ValueError):
    """Invalid user input: the message names the key, the value given and the fix."""


def require(condition: bool, key: str, value: object, expected: str, fix: str) -> None:
    """Raise :class:`ConfigError` unless ``condition`` holds.

    Message shape: ``<key>=<value> is invalid: expected <expected>; <fix>``.
    """
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: expected {expected}; {fix}")
