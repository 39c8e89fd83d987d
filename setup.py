"""The one thing pyproject.toml cannot say: the C extension that scans spans (collector_eval/otlp/_spans.c)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("collector_eval.otlp._spans", ["collector_eval/otlp/_spans.c"])])
