"""The one thing pyproject.toml cannot say: the C extensions of the ingest path (the wire check,
collector_eval/otlp/_check.c; the span scan, collector_eval/otlp/_spans.c; RESP packing,
collector_eval/store/_resp.c)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("collector_eval.otlp._spans", ["collector_eval/otlp/_spans.c"]),
        Extension("collector_eval.otlp._check", ["collector_eval/otlp/_check.c"]),
        Extension("collector_eval.store._resp", ["collector_eval/store/_resp.c"]),
    ]
)
