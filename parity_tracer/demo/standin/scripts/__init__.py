"""Driver scripts for the stand-in packages (each also runs as a plain script)."""
