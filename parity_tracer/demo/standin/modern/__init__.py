"""Modern layout (PtychoPINN ``main`` branch). Put this directory on sys.path to import ``ptycho``."""
