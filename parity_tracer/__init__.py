"""parity_tracer: run a pipeline, patch it as it is imported, stream statistics, reduce to telemetry."""

__version__ = "0.1.0"
