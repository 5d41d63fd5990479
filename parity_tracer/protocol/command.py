"""``python -m parity_tracer dose-experiments``: spec §4.2 as one command, one verified §4.3 delivery per run.

For each point (one nphotons and one loss; several make a sweep) the command starts a fresh child process,
``python -m parity_tracer run ... -m parity_tracer.protocol.launch plan.json`` (or the branch's own script for
main's NPZ path), in a scratch working directory, with ``PYTHONPATH`` = this parity_tracer + the PtychoPINN
checkout. The child runs the branch's own code as the profile's launch steps say; the tracer reduces its stream
at exit; the parent then writes the delivery folder and verifies its checksums.

Exit status: 0 when every point's pipeline ran and its delivery verifies; 1 when a pipeline failed (its folder
still says what happened, with the traceback in ``logs/pipeline.log``); 2 on bad usage or input.
"""

import argparse
import importlib.util
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import parity_tracer
from parity_tracer import outputs
from parity_tracer.document import fields, load as docread
from parity_tracer.profiles.ptychopinn import protocol as proto
from parity_tracer.protocol import delivery, sweep

PACKAGE_ROOT = str(Path(parity_tracer.__file__).resolve().parent.parent)
DELIVERY_SUBDIR = ("plans", "active", "DEBUG-SIM-LINES-DOSE-001", "reports")
DELIVERY_NAME = "dose_experiments_ground_truth"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
VERSION_PATTERN = re.compile(r"^(tensorflow|tf[-_]keras|keras|numpy)([-_].*)?=", re.I)


class UsageError(Exception):
    pass


# -- arguments ---------------------------------------------------------------------------------------------------

def _floats(text):
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected numbers separated by commas, got %r" % text)
    if not values or any(not (v > 0 and v < float("inf")) for v in values):
        raise argparse.ArgumentTypeError("photon counts must be positive numbers")
    return values


def _losses(text):
    values = [x.strip() for x in text.split(",") if x.strip()]
    if not values or any(v not in ("nll", "mae") for v in values):
        raise argparse.ArgumentTypeError("loss functions are nll or mae, got %r" % text)
    return values


def add_arguments(ap):
    t = proto.TEMPLATE
    ap.description = ("Run a PtychoPINN branch's own pipeline traced (spec §4.2) and write the §4.3 delivery. "
                      "A comma list in --nphotons or --loss-fn makes a sweep: one run and one delivery per point "
                      "plus sweep.json.")
    where = ap.add_argument_group("where")
    where.add_argument("--output-dir", help="the delivery folder (a sweep: the folder of the points); new or empty")
    where.add_argument("--delivery-root", metavar="REPO",
                       help="deliver to REPO/plans/active/DEBUG-SIM-LINES-DOSE-001/reports/<UTC time>/"
                            "dose_experiments_ground_truth/ (spec §4.3) instead of --output-dir")
    where.add_argument("--parity-log", default="parity_telemetry.json", help="telemetry file name in the delivery")
    where.add_argument("--ptycho", metavar="PATH",
                       help="PtychoPINN checkout (default: the one `import ptycho` finds); its layout decides the branch")
    where.add_argument("--keep-work", action="store_true",
                       help="keep the scratch folder (working directory, raw stream) next to the delivery")
    run = ap.add_argument_group("the run (spec §4.2 template values are the defaults)")
    run.add_argument("--scenario", help="scenario name in the document (default gs<G>_ideal, gs<G>_same_npz)")
    run.add_argument("--nphotons", type=_floats, default=[t["nphotons"]], help="photons, or a comma list (sweep)")
    run.add_argument("--gridsize", type=int, default=t["gridsize"])
    run.add_argument("--nepochs", type=int, default=t["nepochs"])
    run.add_argument("--loss-fn", type=_losses, default=[t["loss_fn"]], help="nll or mae, or a comma list (sweep)")
    run.add_argument("--seed", type=int, default=None, help="main: GridLinesConfig.seed; legacy: TF seed")
    run.add_argument("--flow", choices=("grid-lines", "legacy-equivalent"), default=None,
                     help="main only: the grid-lines workflow (default) or the legacy-equivalent flow")
    size = ap.add_argument_group("size knobs (the template's values are slow: ~10 min per epoch on 2 cores)")
    size.add_argument("--size", type=int, default=t["size"],
                      help="simulated object side (the small configuration: 128)")
    size.add_argument("--nimgs-train", type=int, default=t["nimgs_train"], help="simulated train objects")
    size.add_argument("--nimgs-test", type=int, default=t["nimgs_test"], help="simulated test objects")
    size.add_argument("--N", type=int, default=None, help="patch size (64, 128 or 256; default 64, or the NPZ's)")
    npz = ap.add_argument_group("same-NPZ track (spec §5.1)")
    npz.add_argument("--train-npz", metavar="FILE", help="train on this RawData NPZ instead of simulating")
    npz.add_argument("--test-npz", metavar="FILE", help="test NPZ (default: the train NPZ)")


def _usage(args):
    if bool(args.output_dir) == bool(args.delivery_root):
        raise UsageError("give exactly one of --output-dir and --delivery-root")
    if not NAME_RE.match(args.parity_log) or not args.parity_log.endswith(".json"):
        raise UsageError("--parity-log must be a plain file name ending in .json, got %r" % args.parity_log)
    for name in ("gridsize", "nepochs", "size", "nimgs_train", "nimgs_test"):
        if getattr(args, name) < 1:
            raise UsageError("--%s must be at least 1" % name.replace("_", "-"))
    if args.test_npz and not args.train_npz:
        raise UsageError("--test-npz needs --train-npz")
    if args.scenario is not None and not NAME_RE.match(args.scenario):
        raise UsageError("--scenario must be a simple name (letters, digits, . _ -)")


def find_checkout(path):
    if path:
        checkout = os.path.abspath(path)
    else:
        spec = importlib.util.find_spec(proto.PACKAGE)     # finds, never imports
        if spec is None or not spec.submodule_search_locations:
            raise UsageError("no PtychoPINN found: pass --ptycho PATH (a checkout) or put one on PYTHONPATH")
        checkout = os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))
    if not os.path.isdir(os.path.join(checkout, proto.PACKAGE)):
        raise UsageError("%s is not a PtychoPINN checkout (no %s/ package)" % (checkout, proto.PACKAGE))
    branch = proto.detect_branch(checkout)
    if branch is None:
        raise UsageError("%s: cannot tell the branch from the layout (%s)" % (
            checkout, ", ".join("%s has %s" % (b, m) for b, m in proto.BRANCH_MARKERS.items())))
    return checkout, branch


def _npz_info(path):
    if not os.path.isfile(path):
        raise UsageError("%s is not a file" % path)
    try:
        return proto.npz_info(path)
    except ValueError as exc:
        raise UsageError("%s: %s" % (path, exc))


# -- one point ---------------------------------------------------------------------------------------------------

def nphotons_label(x):
    """1e4 -> '1e4', 2.5e6 -> '2.5e6' (six significant digits, so distinct doses get distinct labels)."""
    mantissa, _, exponent = ("%.5e" % x).partition("e")
    return "%se%d" % (mantissa.rstrip("0").rstrip("."), int(exponent))


def point_label(p):
    return "nphotons%s-%s" % (nphotons_label(p["nphotons"]), p["loss_fn"])


def _child_env(checkout, flow):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER")}
    parts = [PACKAGE_ROOT, checkout] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    env.update(proto.ENV)
    env.update(proto.ENV_BY_FLOW.get(flow, {}))
    return env


def _child_command(branch, flow, p, steps, run_dir, plan_path, checkout):
    cmd = [sys.executable, "-m", "parity_tracer", "run", "--out", str(run_dir), "--pipeline", branch,
           "--scenario", p["scenario"]]
    if any(s[0] == "grid_raw_data" for s in steps):
        cmd.append("--save-raw-data")
    if len(steps) == 1 and steps[0][0] == "script":       # the branch's own script, exactly as python runs it
        return cmd + [os.path.join(checkout, steps[0][1])] + list(steps[0][2])
    return cmd + ["-m", "parity_tracer.protocol.launch", str(plan_path)]




def _run_text(cmd, timeout=120):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return "not available (%s)" % type(exc).__name__


def environment(checkout):
    """python --version, the pip list lines the spec asks for, and the checkout's commit (git, hooks disabled)."""
    pip = _run_text([sys.executable, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"])
    lines = [l for l in pip.splitlines() if VERSION_PATTERN.match(l)] or [pip.splitlines()[-1] if pip else "?"]
    git = {"commit": None, "branch": None, "dirty": None}
    if os.path.exists(os.path.join(checkout, ".git")):
        base = ["git", "-c", "core.fsmonitor=false", "--no-pager", "-C", checkout]
        env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
        try:
            def g(*a):
                r = subprocess.run(base + list(a), capture_output=True, text=True, timeout=20, env=env,
                                   stdin=subprocess.DEVNULL)
                return r.stdout.strip() if r.returncode == 0 else None
            git = {"commit": g("rev-parse", "HEAD"), "branch": g("rev-parse", "--abbrev-ref", "HEAD")}
            status = g("status", "--porcelain", "--untracked-files=no")
            git["dirty"] = None if status is None else bool(status)
        except (OSError, subprocess.SubprocessError):
            pass
    return {"python": _run_text([sys.executable, "--version"]), "packages": lines, "git": git}


def _failure_line(log_path):
    try:
        lines = Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no log"
    exc = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b.*|^[A-Za-z_][\w.]*: .+")
    for line in reversed(lines):
        s = line.strip()
        if s and not s.startswith("parity_tracer:") and exc.match(s):
            return s[:300]
    return next((l.strip()[:300] for l in reversed(lines) if l.strip()), "no output")


def _headline(doc):
    num = lambda v: v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    g = fields.get
    return {"amplitude_mae": num(g(doc, "comparison", "amplitude", "mae")),
            "pearson_r": num(g(doc, "comparison", "amplitude", "pearson_r")),
            "least_squares_scalar": num(g(doc, "comparison", "amplitude", "scaling_analysis",
                                          "least_squares_scalar")),
            "intensity_scale_used": num(g(doc, "intensity_scale", "used_value")),
            "model_exp_log_scale": num(g(doc, "intensity_scale", "model_exp_log_scale"))}


def _readme_head(ctx, p, env, status, log_note, raw_text):
    branch, flow, steps = ctx["branch"], ctx["flow"], ctx["steps"]
    git = env["git"]
    title = "# dose_experiments ground truth: %s, %s (%s flow)" % (p["scenario"], branch, flow)
    lines = [title, "",
             "Made by `python -m parity_tracer dose-experiments` (parity_tracer %s), the commands of the Parity "
             "Logging Specification v1.0 §4.2 as one command; the folder has the §4.3 layout." % parity_tracer.__version__,
             "", "**Status: %s**" % status, ""]
    if log_note:
        lines += [log_note, ""]
    lines += ["Check the folder: `sha256sum -c checksums.txt` inside it, or `python -m parity_tracer verify <folder>`.",
              "", "## Commands used", "",
              "The command (working directory `%s`, PYTHONPATH `%s`):" % (ctx["cwd"], ctx["pythonpath"]), "",
              "```bash", ctx["command"], "```", "",
              "The traced child process it started, in a scratch working directory (the pipeline writes relative "
              "paths; the scratch folder is removed after a successful run unless `--keep-work`):", "", "```bash",
              "cd %s" % shlex.quote(ctx["scratch"]),
              "PYTHONPATH=%s %s" % (shlex.quote(ctx["child_pythonpath"]),
                                    " ".join(shlex.quote(c) for c in ctx["child_command"])), "```", "",
              "What the child ran: the %s branch's own code (checkout `%s`), nothing copied or edited:" % (
                  branch, ctx["checkout"]), "", "```python"] + proto.render_steps(steps) + ["```", "",
              "`logs/pipeline.log` holds the child's output; `logs/launch_plan.json` the steps above as data.", "",
              "## Environment", "", "```", "$ python --version", env["python"],
              "$ pip list | grep -E \"tensorflow|keras|numpy\"", *env["packages"], "```", "",
              "- interpreter: `%s`" % sys.executable,
              "- PtychoPINN branch (from the checkout's layout): `%s`; git branch `%s`, commit `%s`, dirty: %s" % (
                  branch, git.get("branch"), git.get("commit"), git.get("dirty")),
              "- parameters: %s" % ", ".join("%s=%s" % (k, p[k]) for k in (
                  "nphotons", "gridsize", "nepochs", "loss_fn", "N", "size", "nimgs_train", "nimgs_test", "seed")
                  if k in p), "",
              "## Deviations from the spec §4.2 template", ""]
    devs = ["The command is `python -m parity_tracer dose-experiments` (the template's "
            "`scripts/dose_experiments_with_telemetry.py` does not exist in either branch).",
            "`checksums.txt` lists every file of this folder (paths relative to it), not only `*.npz` and `*.npy`."]
    devs += proto.deviations(branch, flow, p)
    lines += ["- " + d for d in devs] + [""]
    if raw_text:
        lines += ["## How raw_data.npz was made", "", raw_text, ""]
    return "\n".join(lines)


def run_point(ctx, p, dest):
    """Run one point and write its delivery; returns (ok, summary dict, one-line message)."""
    branch, flow = ctx["branch"], ctx["flow"]
    dest = Path(dest)
    outputs.makedirs(dest.parent)
    work = Path(tempfile.mkdtemp(prefix=".%s.work-" % dest.name, dir=str(dest.parent)))
    # the trace folder must be new when the child claims it (an existing folder is never reused), so the
    # pipeline's working directory sits beside it; the bundle takes the checkpoint from there by name (includes)
    run_dir, scratch = work / "run", work / "cwd"
    payload = run_dir / "protocol"
    outputs.makedirs(scratch)
    p = dict(p, scratch=str(scratch))
    steps = proto.plan(branch, flow, p)
    plan_path = work / "launch_plan.json"
    plan_path.write_text(json.dumps({"branch": branch, "flow": flow, "steps": steps, "trace_dir": str(run_dir),
                                     "payload_dir": str(payload), "checkout": ctx["checkout"]}, indent=1),
                         encoding="utf-8")
    cmd = _child_command(branch, flow, p, steps, run_dir, plan_path, ctx["checkout"])
    env = _child_env(ctx["checkout"], flow)
    log = work / "pipeline.log"
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as fh:
        fh.write("$ cd %s && %s\n" % (shlex.quote(str(scratch)), " ".join(shlex.quote(str(c)) for c in cmd)))
        fh.flush()
        code = subprocess.call([str(c) for c in cmd], cwd=str(scratch), env=env, stdout=fh,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    raw = None
    notes_path = payload / "raw_data.json"
    raw_text = None
    if notes_path.is_file():
        notes = json.loads(notes_path.read_text(encoding="utf-8"))
        if notes.get("ok") and (payload / "raw_data.npz").is_file():
            raw_text = proto.GRID_RAW_DATA_TEXT % "; ".join(notes.get("notes", []))
            raw = (str(payload / "raw_data.npz"), "the run's simulated train data in RawData's NPZ format", raw_text)
            raw_text = None                   # the bundle's README section says it
        elif not notes.get("ok"):
            raw_text = "Not derived: %s." % notes.get("error")
    status = "OK" if code == 0 else "FAILED"
    env_info = environment(ctx["checkout"])
    log_note = None
    message = None
    if code != 0:
        message = "the %s pipeline failed (exit %d): %s" % (branch, code, _failure_line(log))
        log_note = "The pipeline failed: %s. Its full output and traceback: `logs/pipeline.log`." % message
    head = _readme_head(dict(ctx, steps=steps, scratch=str(scratch), child_command=[str(c) for c in cmd],
                             child_pythonpath=env["PYTHONPATH"]), p, env_info, status, log_note, raw_text)
    files = [("logs/pipeline.log", str(log)), ("logs/launch_plan.json", str(plan_path))]
    summary = delivery.write(dest, run_dir, head, parity_log=ctx["parity_log"], raw_data=raw, files=files,
                             includes=[scratch])
    doc = None
    if summary["telemetry"]:
        try:
            doc = docread.load_document(summary["telemetry"])
        except docread.DocumentError:
            doc = None
    summary.update(seconds=seconds, exit_code=code, headline=_headline(doc) if doc else _headline({}),
                   missing_stages=(doc or {}).get("missing_stages"), work=str(work))
    if code == 0 and not ctx["keep_work"]:
        shutil.rmtree(work, ignore_errors=True)
        summary["work"] = None
    if message is None:
        missing = summary["missing_stages"] if isinstance(summary["missing_stages"], list) else []
        message = "%s %s %s: %d/6 required stages, delivery -> %s (%d files, checksums verified, %.0f s)" % (
            branch, flow, point_label(p), 6 - len(missing), dest, summary["files"], seconds)
    else:
        message += "; delivery -> %s (log: %s)" % (dest, dest / "logs" / "pipeline.log")
    return code == 0, summary, message


# -- the command -------------------------------------------------------------------------------------------------

def command(args):
    try:
        _usage(args)
        checkout, branch = find_checkout(args.ptycho)
        flow = args.flow or proto.DEFAULT_FLOW[branch]
        if args.flow and args.flow not in proto.FLOWS[branch]:
            raise UsageError("--flow %s is a main-branch option; %s is %s" % (args.flow, checkout, branch))
        base = {"gridsize": args.gridsize, "nepochs": args.nepochs, "seed": args.seed, "size": args.size,
                "nimgs_train": args.nimgs_train, "nimgs_test": args.nimgs_test, "N": args.N or proto.TEMPLATE["N"]}
        if args.train_npz:
            flow = "npz"
            train = os.path.abspath(args.train_npz)
            test = os.path.abspath(args.test_npz or args.train_npz)
            n_points, n = _npz_info(train)
            _npz_info(test)
            if args.N is not None and args.N != n:
                raise UsageError("--N %d does not match the NPZ's %dx%d patterns" % (args.N, n, n))
            base.update(train_npz=train, test_npz=test, n_points=n_points, N=n)
        base["scenario"] = args.scenario or "gs%d_%s" % (args.gridsize, "same_npz" if args.train_npz else "ideal")
        if args.delivery_root:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            dest = Path(os.path.abspath(args.delivery_root)).joinpath(*DELIVERY_SUBDIR, stamp, DELIVERY_NAME)
        else:
            dest = Path(os.path.abspath(args.output_dir))
        delivery.check_destination(dest)
    except (UsageError, delivery.DeliveryError) as exc:
        sys.stderr.write("parity_tracer: dose-experiments: %s\n" % exc)
        return 2
    points = [dict(base, nphotons=x, loss_fn=l) for x, l in itertools.product(args.nphotons, args.loss_fn)]
    if len({point_label(p) for p in points}) != len(points):
        sys.stderr.write("parity_tracer: dose-experiments: a point is given twice in --nphotons / --loss-fn\n")
        return 2
    ctx = {"branch": branch, "flow": flow, "checkout": checkout, "parity_log": args.parity_log,
           "keep_work": args.keep_work, "cwd": os.getcwd(), "pythonpath": os.environ.get("PYTHONPATH", ""),
           "command": " ".join(shlex.quote(a) for a in [os.path.basename(sys.executable), "-m", "parity_tracer",
                                                         "dose-experiments"] + list(args.argv))}
    sys.stderr.write("parity_tracer: dose-experiments: %s branch (%s), %s flow, %d run%s -> %s\n" % (
        branch, checkout, flow, len(points), "" if len(points) == 1 else "s", dest))
    sys.stderr.flush()
    try:
        if len(points) == 1:
            ok, _, message = run_point(ctx, points[0], dest)
            sys.stderr.write("parity_tracer: dose-experiments: %s\n" % message)
            return 0 if ok else 1
        return sweep.run_sweep(ctx, points, dest, run_point, point_label)
    except (delivery.DeliveryError, OSError) as exc:
        sys.stderr.write("parity_tracer: dose-experiments: %s\n" % exc)
        return 2
