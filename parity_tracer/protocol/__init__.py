"""The maintainer protocol of spec §4–§5 as commands: ``python -m parity_tracer dose-experiments`` (one traced run
per point in a fresh child process, each written as a verified §4.3 delivery), sweeps, and the same-NPZ track.

Modules: ``command`` (the command line and the per-point driver), ``launch`` (runs inside the traced child and
interprets the profile's launch steps), ``delivery`` (the §4.3 folder, built on ``bundle``), ``sweep`` (sweep.json
and the pairing of two sweeps for ``compare``). PtychoPINN knowledge lives in
``parity_tracer/profiles/ptychopinn/protocol.py``.
"""
