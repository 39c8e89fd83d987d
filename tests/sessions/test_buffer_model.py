"""Route, store in a real Redis and load, over several requests, against a plain model: a session
loads the spans routed to it in any request, and those of every trace it joined that waited as an
orphan, before or after the join; nothing of another session. Requests come from
test_router_model's generator (tenants, resources, scopes, traces, ids on spans and resources)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector_eval.model import SessionKey
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.keys import Keys
from collector_eval.sessions.router import SessionRouter
from collector_eval.sessions.scripts import load_scripts
from collector_eval.store.client import connect
from collector_eval.store.options import RedisConfig
from tests.sessions.test_router_model import CFG, build, resource

prefixes = itertools.count()


def renumbered(requests):
    """Span ids unique over all the requests, as a client's are."""
    n = 0
    for request in requests:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    n += 1
                    span.span_id = n.to_bytes(8, "big")
    return requests


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(resource, min_size=1, max_size=2), min_size=1, max_size=4))
def test_a_session_loads_what_its_requests_and_its_traces_brought(redis_url, requests_resources) -> None:
    requests = renumbered([build(resources) for resources in requests_resources])
    router = SessionRouter(CFG)
    direct: dict[SessionKey, set] = defaultdict(set)
    traces: dict[SessionKey, set] = defaultdict(set)
    waited: dict[bytes, set] = defaultdict(set)
    routed_all = []
    for request in requests:
        routed = router.route(request.SerializeToString())
        routed_all.append(routed)
        for key, chunk in routed.sessions.items():
            direct[key] |= {s.span_id for rs in chunk.resource_spans() for ss in rs.scope_spans for s in ss.spans}
            traces[key] |= set(chunk.trace_ids)
        for trace_id, chunk in routed.orphans.items():
            waited[trace_id] |= {s.span_id for rs in chunk.resource_spans() for ss in rs.scope_spans for s in ss.spans}
    expected = {key: direct[key].union(*(waited[t] for t in traces[key])) for key in direct}

    async def store_and_load():
        client = connect(RedisConfig(url=redis_url), redis_url)
        await load_scripts(client)
        buffer = SessionBuffer(client, Keys(f"model{next(prefixes)}"), CFG)
        for routed in routed_all:
            await buffer.store(routed)
        loaded = {}
        for key in expected:
            stored = await buffer.load(key)
            assert stored is not None, key
            loaded[key] = {s.span_id for rs in stored.resource_spans for ss in rs.scope_spans for s in ss.spans}
        await client.aclose()
        return loaded

    assert asyncio.run(store_and_load()) == expected
