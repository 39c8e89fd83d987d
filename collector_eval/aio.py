"""asyncio helpers shared by the service's components."""

from __future__ import annotations

import asyncio


async def cancel_all(tasks) -> None:
    """Cancel tasks and wait for them. A cancellation can be swallowed by asyncio.wait_for in Python
    3.11 (redis-py waits through it), leaving a loop running; so cancel again until all have ended."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1)
