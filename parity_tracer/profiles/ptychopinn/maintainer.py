"""PtychoPINN knowledge of the maintainer tools (``compare``, ``bundle``), as data.

``parity_tracer.maintainer`` reads these names and stays generic: which extra stage holds the model's raw
output, which inference fields hold the stitching multiplier, which configuration fields a comparison and a
bundle README show, and what a RawData ``.npz`` holds.
"""

from parity_tracer.profiles.ptychopinn import names

# -- compare -------------------------------------------------------------------------------------------------------

# The profile's extra stage with the model's output patches before stitching (tracer.other_stages): its count is a
# fallback for the number of predictions, its maximum the base of the stitching-gain estimate.
RAW_PREDICTION_STAGE = "inference_raw_prediction"
# inference fields holding the multiplier the stitcher applied (grid-lines passes norm_Y_I), first present wins
STITCH_GAIN_FIELDS = ("norm_Y_I", "stitch_scale")
STITCH_GAIN_EXAMPLE = "norm_Y_I"      # named in the finding that one pipeline multiplies when stitching

# the grouping's coordinate convention (grouping stage metadata ``coordinates``): the sign relating coords_relative
# to the neighbours (``relative_sign``, measured) and the module constant that sets it
COORD_SIGN_FIELD = names.LOCAL_OFFSET_SIGN
COORD_SIGN_LABEL = "coords_relative sign (local_offset_sign %s vs %s)"
COORD_SIGN_NOTE = "coords_relative = local_offset_sign * (coords_nn - group centre): opposite sign"

# configuration block fields shown side by side (the spec §2.3 fields PtychoPINN's params.cfg feeds)
CONFIG_FIELDS = ("N", "gridsize", "nphotons", "neighbor_count", "group_count", "batch_size", "nepochs",
                 "split_fraction", "loss_fn", "intensity_scale_trainable")

# -- bundle --------------------------------------------------------------------------------------------------------

# configuration fields the bundle README lists under "Environment"
README_CONFIG_FIELDS = ("N", "gridsize", "nphotons", "batch_size", "nepochs", "loss_fn", "intensity_scale_trainable")
# the artifact the profile writes with --save-raw-data: the simulated train set, saved where it was made
RAW_DATA_ARTIFACT = names.RAW_DATA_ARTIFACT
# how an npz-file run loaded its data set
RAW_DATA_LOADER = names.FROM_FILE.split("::")[1]
# what a RawData .npz holds that a run simulating in memory does not capture
RAW_DATA_NOT_CAPTURED = ("diffraction patterns (`diff3d` / `X`), scan coordinates (`xcoords`, `ycoords`, "
                         "`xcoords_start`, `ycoords_start`), `scan_index` and the simulation `probeGuess`")
