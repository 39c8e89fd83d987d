"""Evaluation worker: takes a job, loads the session, rebuilds the transcript, runs the evaluators
concurrently, claims the revision's verdict (once, across replicas) and publishes it."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict

from redis.exceptions import RedisError

from collector_eval.aio import cancel_all
from collector_eval.config import Config
from collector_eval.evaluators.base import EvaluationResult, Evaluator
from collector_eval.export.carrier import Verdict
from collector_eval.export.results import ResultsExporter
from collector_eval.jobs import Job, JobQueue
from collector_eval.judge import Judge
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.transcript import build_transcript, elide

log = logging.getLogger("collector_eval.worker")

RECLAIM_EVERY_S = 5.0


class EvaluationWorker:
    def __init__(
        self,
        cfg: Config,
        buffer: SessionBuffer,
        jobs: JobQueue,
        evaluators: list[Evaluator],
        judge: Judge | None,
        results: ResultsExporter,
    ):
        self._cfg = cfg
        self._buffer = buffer
        self._jobs = jobs
        self._evaluators = evaluators
        self._judge = judge
        self._results = results
        self._running: set[asyncio.Task] = set()
        self.verdicts = 0

    async def run(self) -> None:
        await self._jobs.ensure_group()
        last_reclaim = 0.0
        while True:
            free = self._cfg.jobs.workers - len(self._running)
            if free <= 0:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                jobs: list[Job] = []
                if time.monotonic() - last_reclaim > RECLAIM_EVERY_S:
                    last_reclaim = time.monotonic()
                    jobs = await self._jobs.reclaim(free)
                if not jobs:
                    jobs = await self._jobs.read(free, block_ms=max(1, int(self._cfg.jobs.poll_interval_s * 1000)))
            except RedisError as exc:
                log.warning("cannot read jobs: %s", exc)
                await asyncio.sleep(1)
                continue
            for job in jobs:
                task = asyncio.create_task(self._run_job(job))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _run_job(self, job: Job) -> None:
        try:
            await self.process(job)
            await self._jobs.ack(job)
        except Exception:
            # Unacknowledged: the job is reclaimed after the visibility timeout and tried again.
            log.exception("evaluating session %s failed", job.session)

    async def process(self, job: Job) -> Verdict | None:
        stored = await self._buffer.load(job.session)
        if stored is None:
            log.warning("session %s expired before it could be judged", job.session)
            return None
        if await self._buffer.result_exists(stored.key, stored.revision):
            return None
        start_ns = time.time_ns()
        transcript = build_transcript(stored.resource_spans)
        if self._judge is not None:
            transcript = elide(transcript, self._cfg.judge.max_input_tokens)
        results = await asyncio.gather(*(self._evaluate(ev, transcript) for ev in self._evaluators))
        verdict = Verdict(
            session=stored,
            results=list(results),
            judge_model=self._cfg.judge.model,
            transcript_truncated=transcript.truncated,
            start_ns=start_ns,
            end_ns=time.time_ns(),
            annotator_kinds={ev.name: "LLM" if ev.needs_judge else "CODE" for ev in self._evaluators},
        )
        record = json.dumps({"revision": stored.revision, "results": [asdict(r) for r in results]})
        if not await self._buffer.record_result(stored.key, stored.revision, record):
            return None  # another replica judged this revision first
        await self._results.publish(verdict)
        self.verdicts += 1
        return verdict

    async def _evaluate(self, evaluator: Evaluator, transcript) -> EvaluationResult:
        try:
            return await evaluator.evaluate(transcript, self._judge)
        except Exception as exc:  # an evaluator bug must not cost the other evaluators their verdicts
            log.exception("evaluator %s crashed", evaluator.name)
            return EvaluationResult.failed(evaluator.name, "evaluator_error", f"{type(exc).__name__}: {exc}")

    async def stop(self) -> None:
        await cancel_all(list(self._running))
