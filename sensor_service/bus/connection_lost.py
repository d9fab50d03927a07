"""The error to raise when an aiomqtt connection is found gone."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt

__all__ = ["connection_lost"]


def connection_lost(disconnected: asyncio.Future[Any], message: str) -> aiomqtt.MqttError:
    """An ``MqttError(message)`` caused by what ended the connection.

    ``disconnected`` is aiomqtt's connection future. Its exception is retrieved here: a future
    whose exception nobody retrieves makes asyncio log "Future exception was never retrieved"
    when it is collected, long after the reconnect that handled it.
    """
    error = aiomqtt.MqttError(message)
    if disconnected.done() and not disconnected.cancelled():
        error.__cause__ = disconnected.exception()
    return error
