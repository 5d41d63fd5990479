"""``python -m parity_tracer demo [--out DIR]``: the whole tool on two small SYNTHETIC pipelines, in seconds.

No PtychoPINN needed: the pipelines are the numpy-only stand-ins shipped in ``parity_tracer/demo/standin``,
imported under this package's namespace (``parity_tracer.demo.standin.<layout>.ptycho``, never a top-level
``ptycho``) and traced with ``PARITY_TRACER_MODULE_PREFIX`` so that events keep their canonical ``ptycho.*``
names. The steps:

1. simulate one small dataset (untraced) and save it as ``data/raw_train.npz`` — the shared input of §5.1;
2. trace the *reference* pipeline (the modern-layout stand-in's npz path, ``scripts/modern_rawdata_path.py``)
   on that npz;
3. trace the *deliberate* pipeline — the same script and layout on the same npz — with one documented
   difference: ``--normalize-gain 1.1`` sets ``cfg['demo.normalize_gain']``, which makes the
   stand-in's ``raw_data.normalize_data`` scale ``X_full`` by an extra 10 % — a normalization difference that
   enters at the ``grouped_X_full`` stage;
4. reduce both event streams to ``parity_telemetry.json``;
5. compare them (the dataset checksums match, so ``auto`` picks the strict same-npz mode) and write the report
   as text, markdown and json, plus a plot of the stage means when matplotlib is installed.

The comparison must name ``grouped_X_full`` as the first divergence: the demo checks that and says so.
Exit status: 0 when it did, 1 when it did not, 2 when a step failed.
"""

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import parity_tracer
from parity_tracer import jsonio, outputs
from parity_tracer.document import reduce
from parity_tracer.maintainer import compare

PACKAGE_ROOT = Path(parity_tracer.__file__).resolve().parent.parent   # the directory that holds parity_tracer/
STANDIN = Path(__file__).resolve().parent / "standin"
SCRIPT = STANDIN / "scripts" / "modern_rawdata_path.py"
MODERN_PKG = "parity_tracer.demo.standin.modern.ptycho"
GAIN = 1.1
EXPECTED_STAGE = "grouped_X_full"
MARKER = "DEMO_README.txt"
STEP_TIMEOUT = 120
COMMON_ARGS = ["--nepochs", "1"]

RUNS = (
    # (directory, package, layout, pipeline, scenario, extra script arguments)
    ("reference", MODERN_PKG, "modern", "demo_reference", "demo_reference", []),
    ("deliberate", MODERN_PKG, "modern", "demo_deliberate", "demo_normalize_gain", ["--normalize-gain", str(GAIN)]),
)

BANNER = "parity_tracer demo — a SYNTHETIC demonstration on numpy stand-in pipelines (not PtychoPINN)"


class DemoError(Exception):
    pass


def _env(extra=None):
    """This environment minus any tracer settings, with this parity_tracer first on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TRACER")}
    paths = [str(PACKAGE_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def _child_umask():
    current = os.umask(0o022)
    os.umask(current)
    return current | 0o022


def _step(label, cmd, cwd, env, log):
    start = time.monotonic()
    with outputs.create(log) as raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
        fh.write("$ cd %s && %s\n" % (cwd, " ".join(str(c) for c in cmd)))
        fh.flush()
        try:
            # the stand-in pipelines write their own files: never group/world-writable, whatever our umask
            proc = subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=env, stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=STEP_TIMEOUT, umask=_child_umask())
        except subprocess.TimeoutExpired:
            raise DemoError("%s: timed out after %d s (log: %s)" % (label, STEP_TIMEOUT, log))
    if proc.returncode != 0:
        tail = Path(log).read_bytes()[-4000:].decode("utf-8", "replace").strip().splitlines()[-5:]
        raise DemoError("%s failed (exit %d); log %s:\n    %s" % (label, proc.returncode, log, "\n    ".join(tail)))
    return time.monotonic() - start


def _prepare_out(out):
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise DemoError("%s exists and is not a directory" % out)
        entries = list(out.iterdir())
        if entries and not (out / MARKER).is_file():
            raise DemoError("%s is not empty and holds no previous demo (%s): choose another --out" % (out, MARKER))
        for entry in entries:        # a previous demo: start afresh (links are removed, never followed)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    outputs.makedirs(out)
    return out


def _readme(out):
    return "\n".join([
        BANNER, "",
        "Two small synthetic pipelines (numpy stand-ins of PtychoPINN shipped with parity_tracer) were traced",
        "and compared. They read the same dataset (data/raw_train.npz). They differ ON PURPOSE in one place:",
        "",
        "  deliberate/ runs the same stand-in pipeline with --normalize-gain %s, i.e. cfg['demo.normalize_gain']"
        % GAIN,
        "  = %s, so its raw_data.normalize_data multiplies X_full by an extra %s. The difference enters at" % (GAIN,
                                                                                                           GAIN),
        "  the %s stage; the comparison should name that stage as the first divergence." % EXPECTED_STAGE,
        "",
        "  reference/   the stand-in's npz path (scripts/modern_rawdata_path.py, modern layout), no switch",
        "  deliberate/  the same, with --normalize-gain %s" % GAIN,
        "  */trace/     the tracer output: streams/*.jsonl, parity_telemetry.json, arrays/",
        "  */work/      the pipeline's working directory; */*.log the pipeline output",
        "  comparison.txt / .md / .json, stage_means.png   the comparison",
        "",
        "Re-run the comparison yourself:",
        "  python -m parity_tracer compare %s %s" % (out / "reference" / "trace" / "parity_telemetry.json",
                                                     out / "deliberate" / "trace" / "parity_telemetry.json"),
        ""])


def run_demo(out):
    t0 = time.monotonic()
    out = _prepare_out(out)
    outputs.write_bytes(out / MARKER, _readme(out).encode("utf-8"), exclusive=True)
    print(BANNER)
    print("output: %s" % out)

    data = Path(outputs.subdir(out, "data"))
    dt = _step("simulating the shared dataset", [sys.executable, SCRIPT, "--pkg", MODERN_PKG, "--layout", "modern",
                                                 "--source", "npz"] + COMMON_ARGS, data, _env(), out / "data.log")
    npz = data / "raw_train.npz"
    if not npz.is_file():
        raise DemoError("the data step wrote no %s (log: %s)" % (npz, out / "data.log"))
    print("[1/4] simulated the shared dataset %s (untraced, %.1f s)" % (npz, dt))

    docs = {}
    for i, (name, pkg, layout, pipeline, scenario, extra) in enumerate(RUNS, 2):
        work = Path(outputs.subdir(outputs.subdir(out, name), "work"))
        trace = out / name / "trace"
        cmd = [sys.executable, "-m", "parity_tracer", "run", "--no-reduce", "--out", trace, "--pipeline", pipeline,
               "--scenario", scenario, SCRIPT, "--pkg", pkg, "--layout", layout, "--npz", npz] + COMMON_ARGS + extra
        dt = _step("tracing %s" % name, cmd, work, _env({"PARITY_TRACER_MODULE_PREFIX": pkg}), out / (name + ".log"))
        print("[%d/4] traced %-10s (%s layout%s) in %.1f s" % (
            i, name, layout, ", " + " ".join(extra) if extra else ", no switch", dt))
        try:
            line = reduce.reduce_to_file([trace / "streams"], trace / "parity_telemetry.json")
        except reduce.ReduceError as exc:
            raise DemoError("reducing %s: %s" % (name, exc))
        print("      reduced: %s" % line.replace("parity_tracer: ", ""))
        docs[name] = trace / "parity_telemetry.json"

    path_a, path_b = docs["reference"], docs["deliberate"]
    try:
        report = compare.build_report(path_a, compare.load_document(path_a), path_b, compare.load_document(path_b))
    except compare.InputError as exc:
        raise DemoError("compare: %s" % exc)
    outputs.write_bytes(out / "comparison.txt", compare.render(report).encode("utf-8"), exclusive=True)
    outputs.write_bytes(out / "comparison.md", compare.render(report, markdown=True).encode("utf-8"), exclusive=True)
    outputs.write_bytes(out / "comparison.json", jsonio.dumps_pretty(report), exclusive=True)
    problem = compare.plot_stage_means(report, out / "stage_means.png")
    print("[4/4] compared: %s mode (%s)" % (report["mode"]["used"], report["mode"]["reason"]))

    print()
    for item in report["checklist"]:
        print("  %-34s %-9s %s" % (item["item"], item["requirement"], item["result"]))
    v = report["verdict"]
    print("  -> %d/%d REQUIRED items pass (compare exit status %d)" % (v["required_passed"], v["required"],
                                                                       v["exit_code"]))
    first = report["first_divergence"]
    print()
    if first is None:
        print("first divergence: none")
    else:
        print("first divergence: %s — %s" % (first["name"], first["detail"]))
    named = first is not None and first["name"] == EXPECTED_STAGE
    if named:
        print("OK: the comparison names %s, the stage where the deliberate x%s normalization gain enters."
              % (EXPECTED_STAGE, GAIN))
    else:
        print("UNEXPECTED: the deliberate difference enters at %s, but the comparison named %s."
              % (EXPECTED_STAGE, first["name"] if first else "nothing"))
    print()
    print("report:     %s (also .md, .json)" % (out / "comparison.txt"))
    print("telemetry:  %s" % path_a)
    print("            %s" % path_b)
    print("plot:       %s" % (out / "stage_means.png" if problem is None else "none (%s)" % problem))
    print("about:      %s" % (out / MARKER))
    print("done in %.1f s" % (time.monotonic() - t0))
    return 0 if named else 1


def add_arguments(parser):
    parser.add_argument("--out", help="output directory (default: ./parity_tracer_out/<time>-demo-<pid>)")


def command(args):
    from parity_tracer.settings import default_out_dir
    try:
        # the default name is predictable: claimed by an exclusive mkdir (a planted link or folder is skipped)
        out = Path(args.out) if args.out else Path(outputs.claim_dir(default_out_dir("demo"), claim=None))
        return run_demo(out.resolve())
    except (DemoError, OSError) as exc:
        sys.stdout.flush()
        sys.stderr.write("parity_tracer: demo: %s\n" % exc)
        return 2
