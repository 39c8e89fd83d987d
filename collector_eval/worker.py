"""Evaluation worker: takes a job, claims the session's next revision, rebuilds the transcript, runs
the evaluators concurrently, and commits the verdict to the outbox; the job is acknowledged only
then, so a worker that dies mid-job has its job taken over and the verdict is still published once."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import asdict


from collector_eval.aio import cancel_all
from collector_eval.config import Config
from collector_eval.evaluators.base import EvaluationResult, Evaluator
from collector_eval.export.carrier import SubjectResults, Verdict, build_carrier, verdict_to_dict
from collector_eval.evaluators.spans import span_views, trace_views
from collector_eval.jobs import Job, StreamGroup
from collector_eval.judge import Judge
from collector_eval.redaction import redact
from collector_eval.redis_client import REDIS_ERRORS, log_failure
from collector_eval.sessions.buffer import SessionBuffer, StoredSession
from collector_eval.transcript import build_transcript, elide

log = logging.getLogger("collector_eval.worker")

GROUP = "evaluators"


class OutboxFull(Exception):
    pass


class EvaluationWorker:
    def __init__(
        self,
        cfg: Config,
        buffer: SessionBuffer,
        jobs: list[StreamGroup],  # one per shard
        evaluators: list[Evaluator],
        judge: Judge | None,
    ):
        self._cfg = cfg
        self._buffer = buffer
        self._jobs = jobs
        self._evaluators = evaluators
        self._judge = judge
        self._running: set[asyncio.Task] = set()
        # Each shard's reader takes up to `workers` jobs; this keeps the judging to `workers` at once.
        self._slots = asyncio.Semaphore(cfg.jobs.workers)
        self.verdicts = 0
        # Read by the metrics collector: (evaluator, status) -> runs; "input"/"output" -> judge tokens.
        self.evaluations: Counter[tuple[str, str]] = Counter()
        self.judge_tokens: Counter[str] = Counter()
        self.redis_errors = 0

    async def run(self) -> None:
        await asyncio.gather(*(self._consume(jobs) for jobs in self._jobs))

    async def _consume(self, jobs: StreamGroup) -> None:
        await jobs.ensure_group()
        block_ms = max(1, int(self._cfg.jobs.poll_interval_s * 1000))
        while True:
            free = self._cfg.jobs.workers - len(self._running)
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
            log.error("outbox full (jobs.outbox_max_len): verdict of session %s waits for the downstream", job.session)
        except Exception as exc:
            self.redis_errors += isinstance(exc, REDIS_ERRORS)
            # Unacknowledged: the job is taken over after the visibility timeout and tried again.
            log.exception("evaluating session %s failed", job.session)

    async def process(self, job: Job) -> Verdict | None:
        claim = await self._buffer.claim(job.session)
        if claim is None:
            return None  # expired, or nothing new since its last verdict
        stored = await self._buffer.load(job.session)
        if stored is None:
            return None
        stored.revision = claim.revision
        stored.trigger = job.trigger or claim.trigger or "end_span"
        if stored.span_count == stored.judged_spans and stored.trigger != "control":
            # Only copies of judged spans arrived (an Export retried): no new revision.
            await self._buffer.release(job.session, claim)
            return None
        verdict = await judge_session(self._cfg, stored, self._evaluators, self._judge)
        for result in verdict.all_results():
            self.evaluations[(result.name, result.status)] += 1
            self.judge_tokens["input"] += result.input_tokens
            self.judge_tokens["output"] += result.output_tokens
        record = json.dumps(
            {
                "revision": claim.revision,
                "results": [asdict(r) for r in verdict.results],
                "subjects": [
                    {"level": x.level, "trace_id": x.trace_id.hex(), "span_id": x.span_id.hex(), "results": [asdict(r) for r in x.results]}
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
            self._cfg.jobs.outbox_max_len,
            verdict.judged_subjects,
        )
        if committed < 0:
            raise OutboxFull()
        if committed == 0:
            return None  # this revision's verdict was committed by an earlier run of the job
        self.verdicts += 1
        return verdict

    async def stop(self) -> None:
        await cancel_all(list(self._running))


async def judge_session(cfg: Config, stored: StoredSession, evaluators: list[Evaluator], judge: Judge | None) -> Verdict:
    """Rebuild a session's transcript and run every evaluator on it concurrently: session-level ones
    on the transcript, span- and trace-level ones on each span or trace they select. The one place a
    session is judged: the worker and the offline `evaluate` command both come through here."""
    start_ns = time.time_ns()
    transcript = build_transcript(stored.resource_spans)
    if judge is not None:
        transcript = elide(transcript, cfg.judge.max_input_tokens)
    redactions: dict[str, int] = {}
    if cfg.redaction:
        transcript, redactions = redact(transcript, cfg.redaction)
    by_level: dict[str, list[Evaluator]] = {"session": [], "span": [], "trace": []}
    for ev in evaluators:
        by_level[ev.level].append(ev)
    session_evs = [ev for ev in by_level["session"] if ev.selects(stored.key.session_id)]
    subjects = []  # (level, trace id, span id, evaluator, the view it judges)
    done = stored.judged_subjects
    if by_level["span"]:
        for view in span_views(stored.resource_spans):
            subjects += [
                ("span", view.trace_id, view.span_id, ev, view)
                for ev in by_level["span"]
                if f"{ev.name}:{view.span_id}" not in done and ev.selects(view)
            ]
    if by_level["trace"]:
        for trace in trace_views(stored.resource_spans):
            # A trace that grew since it was judged is judged again: it is a new trajectory.
            subject = f"{len(trace.spans)}:{trace.trace_id}"
            subjects += [
                ("trace", trace.trace_id, trace.root.span_id, ev, trace)
                for ev in by_level["trace"]
                if f"{ev.name}:{subject}" not in done and ev.selects(trace)
            ]
    judged_now = {
        f"{ev.name}:{view.span_id}" if level == "span" else f"{ev.name}:{len(view.spans)}:{view.trace_id}"
        for level, _, _, ev, view in subjects
    }
    results = await asyncio.gather(
        *(_evaluate(ev, transcript, judge) for ev in session_evs),
        *(_evaluate(ev, view, judge) for _, _, _, ev, view in subjects),
    )
    grouped: dict[tuple[str, str, str], list[EvaluationResult]] = {}
    for (level, trace_id, span_id, _, _), result in zip(subjects, results[len(session_evs):]):
        grouped.setdefault((level, trace_id, span_id), []).append(result)
    return Verdict(
        session=stored,
        results=list(results[: len(session_evs)]),
        judge_model=cfg.judge.model,
        transcript_truncated=transcript.truncated,
        start_ns=start_ns,
        end_ns=time.time_ns(),
        annotator_kinds={ev.name: "LLM" if ev.needs_judge else "CODE" for ev in evaluators},
        redactions=redactions,
        subjects=[
            SubjectResults(level, bytes.fromhex(trace_id), bytes.fromhex(span_id), group)
            for (level, trace_id, span_id), group in grouped.items()
        ],
        judged_subjects=done | judged_now,
    )


async def _evaluate(evaluator: Evaluator, subject, judge: Judge | None) -> EvaluationResult:
    try:
        return await evaluator.evaluate(subject, judge)
    except Exception as exc:  # an evaluator bug must not cost the other evaluators their verdicts
        log.exception("evaluator %s crashed", evaluator.name)
        return EvaluationResult.failed(evaluator.name, "evaluator_error", f"{type(exc).__name__}: {exc}")
