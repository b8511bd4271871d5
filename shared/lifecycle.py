"""Graceful shutdown for long-running consumer processes.

SIGTERM or SIGINT sets a flag (``ConsumerLoop.stop``); the loop finishes its batch,
commits, stops the consumer, and the producer is flushed before the process exits."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterable

from shared.logging import get_logger

log = get_logger(__name__)


def install_stop_handlers(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig, stop)


def _on_signal(sig: signal.Signals, stop: Callable[[], None]) -> None:
    log.info("process.stopping", signal=sig.name)
    stop()


async def run_until_stopped(
    main: Awaitable[None],
    stops: Iterable[Callable[[], None]],
    cleanups: Iterable[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Run ``main`` (e.g. a consumer loop) until it returns or a signal asks it to stop."""
    stop_all = list(stops)
    install_stop_handlers(lambda: [s() for s in stop_all])
    try:
        await main
    finally:
        for cleanup in cleanups:
            await cleanup()
