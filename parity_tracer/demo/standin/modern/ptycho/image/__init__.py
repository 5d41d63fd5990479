"""Stand-in for ``ptycho.image`` (main only): re-exports the NumPy stitchers."""
from .stitching import stitch_patches, reassemble_patches  # noqa: F401
