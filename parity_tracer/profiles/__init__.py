"""Capture profiles: the target knowledge of the capture side."""
