"""One exception base for the package; subclasses carry structured fields.

Every message says what to fix. Raise ``from exc`` when wrapping.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DecodeError",
    "FootpodError",
    "InvalidIdentifierError",
    "PayloadError",
    "ServiceError",
    "StoreError",
]


class FootpodError(Exception):
    """Base of every error footpod raises on purpose."""


class InvalidIdentifierError(FootpodError, ValueError):
    """An athlete, pod or run id does not match the identifier contract."""

    def __init__(self, kind: str, value: object, pattern: str) -> None:
        self.kind = kind
        self.value = value
        super().__init__(
            f"invalid {kind} id {value!r}: use 1-64 characters of lower-case letters, digits, "
            f"'_' or '-', starting with a letter or digit (pattern {pattern})"
        )


class PayloadError(FootpodError, ValueError):
    """An MQTT payload does not match the payload schema; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class DecodeError(FootpodError, ValueError):
    """A BLE notification could not be decoded; ``reason`` is a short machine-friendly code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class ConfigError(FootpodError, ValueError):
    """A configuration or profile file is wrong; the message names file, key and reason."""


class ServiceError(FootpodError, RuntimeError):
    """A service (broker, database, binary) is missing or unreachable."""


class StoreError(FootpodError, RuntimeError):
    """InfluxDB refused or failed a request."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        self.status = status
        self.retryable = retryable
        super().__init__(message)
