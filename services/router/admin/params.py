"""The admin endpoints' edge helpers: a parameter reader's refusal as a 422, and the text a
streamed CSV has buffered."""

from __future__ import annotations

import io
from typing import Any

from services.router.domain.params import InvalidParameter
from shared.http import invalid_field


def checked(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a parameter reader; its :class:`InvalidParameter` becomes a 422 naming it."""
    try:
        return fn(*args, **kwargs)
    except InvalidParameter as exc:
        raise invalid_field(exc.param, exc.message) from None


def drain(buffer: io.StringIO) -> str:
    """What ``buffer`` holds, emptying it: the next chunk of a streamed CSV."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
