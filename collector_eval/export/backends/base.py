"""What an evaluation backend is to the publisher: it takes the result records of one verdict in one
attempt, and says how the attempt went (export/delivery.py's Outcome: delivered, retry after a delay,
or refused). The publisher retries through the same loop as every exporter, acknowledges the verdict
in the backend's own outbox once delivered, and counts per backend."""

from __future__ import annotations

from typing import Protocol

from collector_eval.export.delivery import Outcome
from collector_eval.export.results import ResultRecord


class Backend(Protocol):
    # "phoenix", "langfuse", "datadog": names its outbox stream and its metrics' label.
    name: str

    async def attempt(self, records: list[ResultRecord]) -> Outcome:
        """Write every record of one verdict. Written twice (a retry, a restart mid-delivery) must
        leave one copy at the backend: use the records' stable ids."""
        ...

    async def close(self) -> None: ...
