"""Stand-in for main's ``scripts/`` package (only the NPZ training entry point)."""
