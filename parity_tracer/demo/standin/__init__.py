"""Stand-in PtychoPINN packages (numpy only) for testing parity_tracer.

Layouts: ``legacy/ptycho`` (dose_experiments branch) and ``modern/ptycho`` (main branch).
Put a layout directory on ``sys.path`` to import it as top-level ``ptycho``, or import it as
``parity_tracer.demo.standin.<layout>.ptycho``. Driver scripts live in ``scripts/``.
"""
