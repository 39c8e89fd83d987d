"""Helpers shared by several test modules."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.http_client import http_request


def scrape(svc) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as (name, sorted labels) -> value."""
    reply = http_request("GET", svc.service.telemetry.port, "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
