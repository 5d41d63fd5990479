"""Demo material for parity_tracer: stand-in PtychoPINN packages and their driver scripts."""
