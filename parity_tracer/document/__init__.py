"""The telemetry document (Parity Logging Specification v1.0), offline: streams in, documents out.

``streams`` (reading JSONL) -> ``segment`` (one run or several) -> ``build`` (pure: events -> document, with
the section modules ``provenance``, ``configuration``, ``probe``, ``stages``, ``scale``, ``training``,
``inference``, ``comparison``, ``tracer``; fields read by ``fields``) -> ``reduce`` (the command: writes the
documents and, through ``artifacts`` and ``figures``, the files beside them). ``validate`` + ``schema/`` check a
document; ``load`` reads one written elsewhere.
"""
