"""Input npz for main's NPZ path (target-api §3.2c): a 'lines' object and the default disk probe, both made by
PtychoPINN's own functions. Usage: modern_npz_input.py OUT.npz"""
import numpy as np, sys
from ptycho import params, probe, diffsim
params.cfg.update({'N': 64, 'data_source': 'lines', 'size': 256})
np.random.seed(5)
obj = diffsim.sim_object_image(256, which='train')[..., 0]
np.savez(sys.argv[1], objectGuess=(obj * np.exp(0.2j * obj)).astype(np.complex64),
         probeGuess=probe.get_default_probe(64, fmt='np').astype(np.complex64))
