"""PtychoPINN knowledge for the maintainer protocol (``python -m parity_tracer dose-experiments``), as data.

Which branch a checkout is (its layout), and for each branch and flow the exact steps that drive the branch's own
code: the ``params.cfg`` settings, the functions called and the modules imported (the branches' own drivers:
legacy ``ptycho/train.py`` + ``dose.py``, main's grid-lines workflow). The launcher
(``parity_tracer.protocol.launch``) interprets these steps in the traced child; nothing here imports PtychoPINN.

A step is a tuple:
    ("cfg", {key: value})                     params.cfg.update(...)
    ("tf_seed", seed)                         tensorflow.random.set_seed(seed) (legacy has no seed knob of its own)
    ("call", "module:function", kwargs)       call a function of the branch; a kwargs value ("dataclass",
                                              "module:Class", {fields}) is built first, ("path", p) becomes a Path
    ("import", "module")                      import a module (legacy ptycho.train runs the pipeline on import)
    ("probe_from_npz", path)                  probe.set_probe_guess(None, probeGuess of the npz) with its origin noted
    ("script", "relative/path.py", [argv])    run a script of the checkout exactly as python would
    ("grid_raw_data", {…})                    after the run: raw_data.npz in RawData's format from the simulation
"""

import os
import shlex

from parity_tracer.profiles.ptychopinn import names

LEGACY, MAIN = "dose_experiments", "main"
BRANCHES = (LEGACY, MAIN)

# layout markers: a file that only this branch has
BRANCH_MARKERS = {
    LEGACY: "ptycho/train.py",                               # main has no ptycho/train.py
    MAIN: "ptycho/workflows/grid_lines_workflow.py",         # the modern grid-lines workflow
}

FLOWS = {LEGACY: ("dose", "npz"), MAIN: ("grid-lines", "legacy-equivalent", "npz")}
DEFAULT_FLOW = {LEGACY: "dose", MAIN: "grid-lines"}

# The spec §4.2 template and notebooks/dose.py: what the command does when no size knob is given.
TEMPLATE = {"scenario": "gs2_ideal", "nphotons": 1e9, "gridsize": 2, "nepochs": 60, "loss_fn": "nll", "N": 64,
            "size": 392, "nimgs_train": 2, "nimgs_test": 2}
TEMPLATE_SOURCES = {"size": "params.cfg default (dose.py keeps it)", "nimgs_train": "dose.init", "nimgs_test": "dose.init",
                    "N": "params.cfg default", "gridsize": "dose.init / spec §4.2", "nepochs": "spec §4.2 / dose.init",
                    "nphotons": "spec §4.2", "loss_fn": "dose.init default"}
NPZ_KEYS = names.RAW_DATA_FIELDS
PACKAGE = names.ROOT       # the checkout's top-level package (found by the command, never imported)
NPZ_NEIGHBORS = 7          # legacy load_generic_data groups with K=7; main is given the same
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
ENV_BY_FLOW = {"grid-lines": {"PTYCHO_MEMOIZE_KEY_MODE": "dataset"}}   # as main's grid-lines CLI sets it
MAIN_NPZ_SCRIPT = "scripts/training/train.py"
MAIN_DEFAULT_N = 64        # ModelConfig.N


def _fn(module, name):
    """A function of the branch as the launcher's ``"module:function"``."""
    return module + ":" + name


def detect_branch(checkout):
    """LEGACY or MAIN from the checkout's layout, or None."""
    found = [b for b in BRANCHES if os.path.isfile(os.path.join(checkout, BRANCH_MARKERS[b]))]
    return found[0] if len(found) == 1 else None


def loss_weights(loss_fn):
    return {"nll_weight": 0.0, "mae_weight": 1.0} if loss_fn == "mae" else {"nll_weight": 1.0, "mae_weight": 0.0}


def dose_cfg(p):
    """``dose.init(nphotons, loss_fn)`` followed by ``dose.execute``'s writes (legacy ``dose.py``), sized by the
    knobs."""
    cfg = {"positions.provided": False, "data_source": "lines", "set_phi": False, "nepochs": p["nepochs"],
           "offset": 4, "max_position_jitter": 10, "output_prefix": "lines2", "gridsize": p["gridsize"],
           "n_filters_scale": 2, "object.big": True, "intensity_scale.trainable": True, "probe.trainable": False,
           "outer_offset_train": 8, "outer_offset_test": 20, "nimgs_train": p["nimgs_train"],
           "nimgs_test": p["nimgs_test"], "nphotons": p["nphotons"], "N": p["N"], "size": p["size"]}
    if p["loss_fn"] == "mae":       # dose.init: mae_weight 1, nll_weight 0; 'nll' keeps the defaults (1 / 0)
        cfg.update({"mae_weight": 1.0, "nll_weight": 0.0})
    return cfg


def npz_cfg(p):
    """The legacy 'generic' data source: load_generic_data reads these two files through RawData.from_file."""
    cfg = dose_cfg(p)
    for key in ("outer_offset_train", "outer_offset_test", "size", "nimgs_train", "nimgs_test", "offset"):
        cfg.pop(key)
    cfg.update({"data_source": "generic", "train_data_file_path": p["train_npz"],
                "test_data_file_path": p["test_npz"]})
    return cfg


def _grid_raw_data(p):
    return ("grid_raw_data", {"size": p["size"], "outer_offset": 8, "nimgs": p["nimgs_train"]})


def plan(branch, flow, p):
    """The steps that drive ``branch``'s own code for one run with parameters ``p``."""
    seed = p.get("seed")
    if branch == LEGACY and flow == "dose":
        steps = [("cfg", dose_cfg(p))]
        if seed is not None:
            steps.append(("tf_seed", seed))
        return steps + [("call", _fn(names.PROBE, "set_default_probe"), {}), ("import", names.TRAIN), _grid_raw_data(p)]
    if branch == LEGACY and flow == "npz":
        steps = [("cfg", npz_cfg(p))]
        if seed is not None:
            steps.append(("tf_seed", seed))
        return steps + [("probe_from_npz", p["train_npz"]), ("import", names.TRAIN)]
    if branch == MAIN and flow == "grid-lines":
        fields = {"N": p["N"], "gridsize": p["gridsize"], "output_dir": ("path", p["scratch"] + "/grid_lines_out"),
                  "probe_npz": ("path", "unused_probe.npz"), "probe_source": "ideal_disk", "size": p["size"],
                  "nimgs_train": p["nimgs_train"], "nimgs_test": p["nimgs_test"], "nphotons": p["nphotons"],
                  "nepochs": p["nepochs"], "seed": seed}
        fields.update(loss_weights(p["loss_fn"]))
        config = ("dataclass", _fn(names.GRID_LINES, "GridLinesConfig"), fields)
        return [("call", _fn(names.GRID_LINES, "run_grid_lines_workflow"),
                 {"cfg": config, "tf_models": ["pinn"]}), _grid_raw_data(p)]
    if branch == MAIN and flow == "legacy-equivalent":
        steps = [("cfg", dose_cfg(p))]
        if seed is not None:
            steps.append(("tf_seed", seed))
        return steps + [("call", _fn(names.PROBE, "set_default_probe"), {}),
                        ("call", _fn(names.DATA_PREPROCESSING, "generate_data"), {}, "dataset"),
                        ("call", _fn(names.TRAIN_PINN, "train_eval"), {"ptycho_dataset": ("result", "dataset", 7)}),
                        # what legacy ptycho/train.py does after training; the flow itself saves nothing
                        ("call", _fn(names.MODEL_MANAGER, "save"), {"out_prefix": p["scratch"] + "/model_out/"}),
                        _grid_raw_data(p)]
    if branch == MAIN and flow == "npz":
        # main's CLI offers ModelConfig.N's Literal[64, 128, 256] as int choices but parses a string, so it rejects
        # every --N: pass it only when the NPZ needs another size than the default 64 (then main's error shows)
        argv = ["--train_data_file", p["train_npz"], "--test_data_file", p["test_npz"]]
        if p["N"] != MAIN_DEFAULT_N:
            argv += ["--N", str(p["N"])]
        argv += ["--gridsize", str(p["gridsize"]), "--nepochs", str(p["nepochs"]), "--nphotons", repr(p["nphotons"]),
                "--n_groups", str(p["n_points"]), "--neighbor_count", str(NPZ_NEIGHBORS),
                "--output_dir", p["scratch"] + "/training_outputs"]
        for key, value in loss_weights(p["loss_fn"]).items():
            argv += ["--" + key, repr(value)]
        if seed is not None:
            argv += ["--subsample_seed", str(seed)]
        return [("script", MAIN_NPZ_SCRIPT, argv)]
    raise ValueError("no flow %r on branch %s" % (flow, branch))


def deviations(branch, flow, p):
    """How a run differs from the spec §4.2 template / dose.py, in words (the README lists them)."""
    out = []
    for key in ("nphotons", "gridsize", "nepochs", "loss_fn", "N", "size", "nimgs_train", "nimgs_test"):
        if key in p and p[key] != TEMPLATE[key] and not (flow == "npz" and key in ("size", "nimgs_train",
                                                                                   "nimgs_test")):
            out.append("%s = %s instead of %s (%s)." % (key, p[key], TEMPLATE[key], TEMPLATE_SOURCES[key]))
    if branch == LEGACY and flow == "dose":
        out.append("notebooks/dose.py is not run as shipped (it fails with KeyError 'probe' and its reload loop "
                   "drops patches): its init/execute cfg writes are applied, then "
                   "probe.set_default_probe() and `import ptycho.train`, in a fresh process and working directory.")
    if branch == MAIN and flow == "grid-lines":
        out.append("main has no ptycho/train.py: the counterpart is run_grid_lines_workflow(GridLinesConfig(...), "
                   "tf_models=('pinn',)) with probe_source='ideal_disk' (grid-lines forces object_big=False and "
                   "uses ModelConfig.probe_scale=4).")
    if branch == MAIN and flow == "legacy-equivalent":
        out.append("main 'legacy-equivalent' flow: dose cfg, probe.set_default_probe(), "
                   "data_preprocessing.generate_data(), train_pinn.train_eval(dataset), then "
                   "model_manager.save() as legacy ptycho/train.py does (the flow saves no model itself).")
    if flow == "npz":
        out.append("same-NPZ track (spec §5.1): trained on %s%s; grouping K=%d with one group per scan point on both "
                   "branches." % (p["train_npz"], "" if p["test_npz"] == p["train_npz"] else
                                  " (test: %s)" % p["test_npz"], NPZ_NEIGHBORS))
        if branch == LEGACY:
            out.append("legacy load_generic_data hands cfg['probe'] to the containers, so the file's probeGuess is set "
                       "first with probe.set_probe_guess(None, probeGuess).")
    if p.get("seed") is not None and branch == LEGACY:
        out.append("--seed %s is applied as tensorflow.random.set_seed (legacy seeds numpy itself: 1 and 2 before "
                   "the simulations)." % p["seed"])
    return out


# -- raw_data.npz for grid-simulated data (runs in the traced child, after the pipeline) ---------------------------

def grid_raw_data(captured, cfg, diffsim, size, outer_offset, nimgs):
    """RawData-format arrays from the train simulation captured at ``mk_simdata`` (unshuffled, channel format).

    Positions are the branch's own ``diffsim.extract_coords(..., coord_type='global')`` patch centres; every
    channel of every group of the first simulated object becomes one scan point, and a position met again in a
    later group (groups overlap on the grid) is kept once, with its first pattern. Returns (arrays, notes).
    """
    import numpy as np
    X = np.asarray(captured["diffraction"])
    B, N, _, C = X.shape
    ix, iy = diffsim.extract_coords(size, nimgs, coord_type="global", outer_offset=outer_offset)
    ix = np.asarray(ix, dtype=np.float64).reshape(-1, C)
    iy = np.asarray(iy, dtype=np.float64).reshape(-1, C)
    if ix.shape[0] != B:
        raise ValueError("extract_coords gives %d groups, the simulation %d" % (ix.shape[0], B))
    notes = []
    if "coords_nominal" in captured:
        off = np.asarray(captured["coords_nominal"], dtype=np.float64).reshape(B, 2, C)
        err = max(np.abs((ix.mean(axis=1, keepdims=True) - ix) - off[:, 0]).max(),
                  np.abs((iy.mean(axis=1, keepdims=True) - iy) - off[:, 1]).max())
        notes.append("positions checked against the simulation's own group offsets (coords_nominal): largest "
                     "difference %.3g pixel" % err)
        if err > 1e-3:
            raise ValueError("extract_coords positions disagree with the simulated offsets by %.3g pixel" % err)
    per_image = B // max(int(nimgs), 1)
    keep, seen = [], set()
    for b in range(per_image):
        for c in range(C):
            key = (round(ix[b, c], 3), round(iy[b, c], 3))
            if key not in seen:
                seen.add(key)
                keep.append((b, c))
    bs, cs = np.array([k[0] for k in keep]), np.array([k[1] for k in keep])
    xs, ys = ix[bs, cs], iy[bs, cs]
    obj = np.asarray(captured["object"])[0]
    obj = obj.reshape(obj.shape[0], obj.shape[1])
    norm = captured.get("norm_Y_I")
    if norm is not None:
        obj = obj / float(np.asarray(norm).reshape(-1)[0])
    probe = np.asarray(captured["probe"])
    probe = probe.reshape(probe.shape[0], probe.shape[1])
    arrays = {"xcoords": xs, "ycoords": ys, "xcoords_start": xs.copy(), "ycoords_start": ys.copy(),
              "diff3d": np.ascontiguousarray(X[bs, :, :, cs]).astype(np.float32),
              "probeGuess": probe.astype(np.complex64), "objectGuess": obj.astype(np.complex64),
              "scan_index": np.zeros(len(keep), dtype=np.int64)}
    notes.append("%d scan points from %d groups x %d channels of object 0 (duplicates on the grid kept once)"
                 % (len(keep), per_image, C))
    return arrays, notes


def npz_info(path):
    """(number of scan points, patch size) of a RawData NPZ, read without pickles; ValueError when it is not one."""
    import numpy as np
    try:
        with np.load(path, allow_pickle=False) as z:
            needed = (names.XCOORDS, names.YCOORDS, names.DIFF3D, names.PROBE_GUESS)
            missing = [k for k in needed if k not in z.files]
            if missing:
                raise ValueError("not a RawData NPZ (missing %s)" % ", ".join(missing))
            return int(z[needed[0]].shape[0]), int(z[names.DIFF3D].shape[-1])
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError("cannot read as an NPZ (%s)" % type(exc).__name__)


def render_steps(steps):
    """The launch steps as the Python they amount to (for the README)."""
    def val(v):
        if isinstance(v, tuple) and v and v[0] == "path":
            return "Path(%r)" % v[1]
        if isinstance(v, tuple) and v and v[0] == "dataclass":
            return "%s(%s)" % (v[1].split(":")[1], ", ".join("%s=%s" % (k, val(x)) for k, x in v[2].items()))
        if isinstance(v, tuple) and v and v[0] == "result":
            return "%s[%d]" % (v[1], v[2])
        return repr(tuple(v)) if isinstance(v, list) else repr(v)
    lines = []
    for s in steps:
        if s[0] == "cfg":
            lines.append("%s.cfg.update({%s})" % (names.PARAMS, ", ".join("%r: %r" % kv for kv in s[1].items())))
        elif s[0] == "tf_seed":
            lines.append("tensorflow.random.set_seed(%d)" % s[1])
        elif s[0] == "call":
            module, _, fn = s[1].partition(":")
            call = "%s.%s(%s)" % (module, fn, ", ".join("%s=%s" % (k, val(v)) for k, v in s[2].items()))
            lines.append(("%s = %s" % (s[3], call)) if len(s) > 3 else call)
        elif s[0] == "import":
            lines.append("import %s" % s[1])
        elif s[0] == "probe_from_npz":
            lines.append("%s.set_probe_guess(None, numpy.load(%r)[%r])" % (names.PROBE, s[1], names.PROBE_GUESS))
        elif s[0] == "script":
            lines.append("python %s" % " ".join(shlex.quote(a) for a in [s[1]] + list(s[2])))
        elif s[0] == "grid_raw_data":
            lines.append("# afterwards: raw_data.npz from the captured train simulation and "
                         "%s.extract_coords(%d, %d, coord_type='global', outer_offset=%d)"
                         % (names.DIFFSIM, s[1]["size"], s[1]["nimgs"], s[1]["outer_offset"]))
    return lines


# the bundle README's account of raw_data.npz made from a grid simulation (%s: the derivation's own notes)
GRID_RAW_DATA_TEXT = (
    "Derived from the run's grid-simulated train data (the `mk_simdata` train call, captured before the pipeline "
    "shuffles it) in RawData's own NPZ format (" + ", ".join(NPZ_KEYS) + "), so that `RawData.from_file` of either "
    "branch loads it: `diff3d` = the simulated diffraction amplitudes of each channel (as the pipeline trained on "
    "them, i.e. divided by the simulation's intensity_scale); `xcoords`/`ycoords` (= `*_start`) = the patch centres "
    "from the branch's own `diffsim.extract_coords(..., coord_type='global')`; `probeGuess` = the normalized probe "
    "of the simulation (cfg['probe']); `objectGuess` = the simulated object divided by its norm_Y_I (what was "
    "illuminated); `scan_index` = 0. %s.")
