"""Dead-letter policy, pure: decides when too many messages are being dead-lettered.

A bad deploy that cannot process anything must halt, not quietly move the whole topic
into the DLQ. The consumer halts when either limit is passed:
- more than ``max_consecutive`` dead letters in a row, or
- a dead-letter ratio above ``max_ratio`` over the last ``window`` messages
  (once at least ``min_messages`` were seen).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


class DlqLimitExceeded(RuntimeError):
    pass


@dataclass
class DlqLimit:
    max_consecutive: int = 50
    max_ratio: float = 0.5
    window: int = 1000
    min_messages: int = 100
    _recent: deque[bool] = field(default_factory=deque, repr=False)
    _consecutive: int = 0
    _dead_in_window: int = 0

    def record(self, dead: bool) -> None:
        """Record one outcome; raises :class:`DlqLimitExceeded` when a limit is passed."""
        self._recent.append(dead)
        self._dead_in_window += dead
        if len(self._recent) > self.window:
            self._dead_in_window -= self._recent.popleft()
        self._consecutive = self._consecutive + 1 if dead else 0
        if self._consecutive > self.max_consecutive:
            raise DlqLimitExceeded(
                f"{self._consecutive} dead letters in a row (limit {self.max_consecutive})"
            )
        seen = len(self._recent)
        if seen >= self.min_messages and self._dead_in_window / seen > self.max_ratio:
            raise DlqLimitExceeded(
                f"{self._dead_in_window} of the last {seen} messages dead-lettered (limit {self.max_ratio:.0%})"
            )
