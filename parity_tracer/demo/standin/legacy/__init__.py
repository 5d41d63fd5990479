"""Legacy layout (PtychoPINN ``dose_experiments`` branch). Put this directory on sys.path to import ``ptycho``."""
