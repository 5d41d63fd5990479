"""Stand-in for PtychoPINN ``ptycho`` on the ``dose_experiments`` branch (numpy only).

Same module paths, names, signatures, data flow and import-time side effects as the parts of
the real package that parity_tracer patches; the physics is replaced by a few lines of numpy.
Only relative imports are used inside the package, so it works as top-level ``ptycho`` and as
``parity_tracer.demo.standin.legacy.ptycho``.
"""
