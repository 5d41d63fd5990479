"""Configuration dataclasses (stand-in)."""
