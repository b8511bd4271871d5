"""A service's background tasks (consumer loop, outbox relay, timers, gauges): started
together, watched, and stopped in order. Crash-only for the essential ones: if the consumer
dies, the process exits and its restart resumes from the last committed offset."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine
from typing import Any

from shared.logging import get_logger

log = get_logger(__name__)

OnFatal = Callable[[BaseException], None]


def exit_process(service: str) -> OnFatal:
    def on_fatal(exc: BaseException) -> None:  # offsets are uncommitted: a restart resumes
        log.error(f"{service}.fatal", error=repr(exc))
        os._exit(70)

    return on_fatal


class BackgroundTasks:
    def __init__(self, service: str, on_fatal: OnFatal) -> None:
        self.service = service
        self.on_fatal = on_fatal
        self.stopping = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any], *, fatal: bool = False) -> None:
        """Run ``coro``; a ``fatal`` task that fails (not while stopping) ends the process."""
        task = asyncio.create_task(coro, name=f"{self.service}-{name}")

        def done(t: asyncio.Task[Any]) -> None:
            if t.cancelled() or self.stopping.is_set():
                return
            exc = t.exception()
            if exc is not None:
                log.error(f"{self.service}.task_failed", task=name, error=repr(exc))
                if fatal:
                    self.on_fatal(exc)

        task.add_done_callback(done)
        self._tasks[name] = task

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def stop(self, *, drain: tuple[str, ...] = (), grace: float = 15) -> None:
        """Cancel every task but those in ``drain`` (told to stop by the caller, they finish
        their work), then wait up to ``grace`` seconds for each."""
        self.stopping.set()
        for name, task in self._tasks.items():
            if name not in drain:
                task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, grace)
