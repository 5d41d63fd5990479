"""Modern grid-lines minimal run (target-api §7): run_grid_lines_workflow(GridLinesConfig(...), tf_models=('pinn',))."""
import os, sys
from pathlib import Path
gridsize = int(sys.argv[1]) if len(sys.argv) > 1 else 1
out = Path(sys.argv[2] if len(sys.argv) > 2 else "grid_lines_out")
os.environ.setdefault("PTYCHO_MEMOIZE_KEY_MODE", "dataset")
sys.path.insert(0, os.getcwd())   # repo root, for scripts.*
from ptycho.workflows.grid_lines_workflow import GridLinesConfig, run_grid_lines_workflow
cfg = GridLinesConfig(N=64, gridsize=gridsize, output_dir=out, probe_npz=Path("unused.npz"), probe_source="ideal_disk",
                      size=128, nimgs_train=1, nimgs_test=1, nepochs=1, seed=7, nll_weight=1.0, mae_weight=0.0)
result = run_grid_lines_workflow(cfg, tf_models=("pinn",))
print("result keys", sorted(result.keys()) if isinstance(result, dict) else type(result).__name__)
