"""collector-eval: session-level LLM evaluation as a stage of an OpenTelemetry pipeline."""

__version__ = "0.1.0"
