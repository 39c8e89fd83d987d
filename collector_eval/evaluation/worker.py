"""Evaluation worker: takes a job, claims the session's next revision, rebuilds the transcript, runs
the evaluators concurrently, and commits the verdict to the outbox; the job is acknowledged only
then, so a worker that dies mid-job has its job taken over and the verdict is still published once.
While a job runs its claim is kept fresh (a judge call may take minutes), so only a dead worker's
jobs are taken over."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import asdict

from collector_eval.aio import cancel_all
from collector_eval.evaluation.jobs import Job
from collector_eval.evaluation.judging import SessionJudging
from collector_eval.export.carrier import build_carrier, build_result_logs, verdict_to_dict
from collector_eval.export.forwarding.options import ForwardingConfig
from collector_eval.export.forwarding.rules import decide
from collector_eval.export.results import records_to_json, result_records
from collector_eval.export.verdict import Verdict
from collector_eval.model import Trigger
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.options import JobsConfig
from collector_eval.store.client import REDIS_ERRORS, log_failure
from collector_eval.store.streams import StreamGroup

log = logging.getLogger(__name__)

GROUP = "evaluators"


class OutboxFull(Exception):
    pass


class EvaluationWorker:
    def __init__(
        self,
        cfg: JobsConfig,
        buffer: SessionBuffer,
        jobs: list[StreamGroup],  # one per shard
        judging: SessionJudging,
        backends: tuple[str, ...] = (),  # the evaluation backends, each fed from its own outbox
        result_logs: bool = False,  # verdicts go to the OTLP exporters as log records too
        forwarding: ForwardingConfig | None = None,  # on_verdict: each verdict decides its spans' fate
    ):
        self._cfg = cfg
        self._forwarding = forwarding
        self._backends = backends
        self._result_logs = result_logs
        self._buffer = buffer
        self._jobs = jobs
        self._judging = judging
        self._running: set[asyncio.Task] = set()
        # Each shard's reader takes up to `workers` jobs; this keeps the judging to `workers` at once.
        self._slots = asyncio.Semaphore(cfg.workers)
        self.verdicts = 0
        # Read by the metrics collector: (evaluator, status) -> runs; "input"/"output" -> judge tokens.
        self.evaluations: Counter[tuple[str, str]] = Counter()
        self.judge_tokens: Counter[str] = Counter()
        # (decision, rule index) -> sessions decided; rule index -> spans dropped by it (the spans
        # new since the session's last verdict, so a re-evaluation does not count them twice).
        self.decisions: Counter[tuple[str, str]] = Counter()
        self.spans_dropped: Counter[str] = Counter()
        self.redis_errors = 0

    async def run(self) -> None:
        await asyncio.gather(
            *(self._consume(jobs) for jobs in self._jobs),
            *(jobs.keep_claims_fresh() for jobs in self._jobs),
        )

    async def _consume(self, jobs: StreamGroup) -> None:
        block_ms = max(1, int(self._cfg.poll_interval_s * 1000))
        while True:
            free = self._cfg.workers - len(self._running)
            if free <= 0:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                messages = await jobs.next_batch(free, block_ms)
            except Exception as exc:
                self.redis_errors += log_failure(log, "cannot read jobs", exc)
                await asyncio.sleep(1)
                continue
            for message in messages:
                task = asyncio.create_task(self._run_job(jobs, Job.from_message(message)))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _run_job(self, jobs: StreamGroup, job: Job) -> None:
        try:
            async with self._slots:
                await self.process(job)
            await jobs.ack(job.message_id)
        except OutboxFull:
            jobs.release(job.message_id)
            log.error("outbox full (jobs.outbox_max_len): verdict of session %s waits for the downstream", job.session)
        except Exception as exc:
            self.redis_errors += isinstance(exc, REDIS_ERRORS)
            # Unacknowledged and no longer kept fresh: the job is taken over after the visibility
            # timeout and tried again.
            jobs.release(job.message_id)
            log.exception("evaluating session %s failed", job.session)

    async def process(self, job: Job) -> Verdict | None:
        claim = await self._buffer.claim(job.session)
        if claim is None:
            return None  # expired, or nothing new since its last verdict
        stored = await self._buffer.load(job.session)
        if stored is None:
            return None
        stored.revision = claim.revision
        stored.trigger = job.trigger or claim.trigger or Trigger.END_SPAN
        if stored.span_count == stored.judged_spans and stored.trigger != Trigger.CONTROL:
            # Only copies of judged spans arrived (an Export retried): no new revision.
            await self._buffer.release(job.session, claim)
            return None
        verdict = await self._judging.run(stored)
        if self._forwarding is not None:
            verdict.forwarding = decide(self._forwarding, verdict)
        for result in verdict.all_results():
            self.evaluations[(result.name, result.status)] += 1
            self.judge_tokens["input"] += result.input_tokens
            self.judge_tokens["output"] += result.output_tokens
        record = json.dumps(
            {
                "revision": claim.revision,
                "results": [asdict(r) for r in verdict.results],
                "subjects": [
                    {
                        "level": x.level,
                        "trace_id": x.trace_id.hex(),
                        "span_id": x.span_id.hex(),
                        "results": [asdict(r) for r in x.results],
                    }
                    for x in verdict.subjects
                ],
            }
        )
        committed = await self._buffer.commit(
            stored,
            claim,
            record,
            build_carrier(verdict).SerializeToString(),
            json.dumps(verdict_to_dict(verdict), ensure_ascii=False),
            self._cfg.outbox_max_len,
            verdict.judged_subjects,
            self._backends,
            records_to_json(result_records(verdict)) if self._backends else "[]",
            build_result_logs(verdict).SerializeToString() if self._result_logs else b"",
            verdict.forwarding,
        )
        if committed < 0:
            raise OutboxFull()
        if committed == 0:
            return None  # this revision's verdict was committed by an earlier run of the job
        self.verdicts += 1
        decision = verdict.forwarding
        if decision is not None:
            self.decisions[(decision.decision.value, str(decision.rule))] += 1
            if not decision.kept:
                self.spans_dropped[str(decision.rule)] += stored.span_count - max(stored.judged_spans, 0)
        return verdict

    async def stop(self) -> None:
        await cancel_all(list(self._running))
        # The jobs cut short are left to the other processes at once rather than after the timeout.
        for jobs in self._jobs:
            await jobs.abandon()
