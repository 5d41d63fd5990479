"""The maintainer's offline tools: ``compare`` two telemetry documents, ``bundle`` a run (and ``verify`` one)."""
