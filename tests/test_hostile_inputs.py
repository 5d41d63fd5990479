"""Hostile inputs (issue 11): every file the tool reads may come from an attacker or a careless user, every
folder it writes into may have been prepared by one. One fresh-interpreter test per class of problem:

 1 no command runs from data            5 no hang on special files          9 bundle --force replaces only a bundle
 2 one run per document                 6 bounded memory                   10 targets files are data, not code
 3 writes never follow symlinks         7 one-line errors, exit 2          11 never world-writable, whatever the umask
 4 bundle copies only the run's files   8 verify as strict as sha256sum -c 12 reduce writes only valid documents
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, clean_env, run_py
from conftest import tracer as cli

pytestmark = pytest.mark.slow   # every test here runs the tracer or a pipeline in a fresh interpreter

GOLDEN = REPO / "tests" / "golden" / "legacy_dose"
HAS_FIFO = hasattr(os, "mkfifo")


def one_error_line(r, command):
    """Exit 2 and exactly one ``parity_tracer: <command>: ...`` line: never a traceback, never exit 1."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    assert lines[0].startswith("parity_tracer: %s: " % command), lines[0]
    return lines[0]


def reduced_run(tmp_path, name="run"):
    """A run folder (recorded stand-in streams + arrays) reduced to its document by the CLI."""
    run = tmp_path / name
    shutil.copytree(GOLDEN, run)
    (run / "expected.json").unlink()
    r = cli("reduce", run / "streams", "-o", run / "parity_telemetry.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return run


def project(tmp_path, script, name="prog.py"):
    (tmp_path / name).write_text(textwrap.dedent(script))
    return tmp_path / name


def events(folder):
    out = []
    for path in sorted(Path(folder).glob("streams/*.jsonl")):
        out += [json.loads(l) for l in path.read_bytes().splitlines() if l.strip()]
    return out


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    return subprocess.run(["git", "-C", str(repo)] + list(args), check=True, env=env, capture_output=True,
                          text=True).stdout.strip()


# -- 1 ---------------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_1_git_runs_only_at_trace_time_hardened_and_never_on_a_path_from_data(tmp_path):
    """Provenance is read in the user's checkout while tracing, with fsmonitor/hooks disabled; ``reduce`` uses the
    recorded values and never runs git, even when a stream's origin points into a repository set up to run a
    command."""
    checkout = tmp_path / "checkout"
    (checkout / "ptycho").mkdir(parents=True)
    (checkout / "ptycho" / "__init__.py").write_text("")
    (checkout / "main.py").write_text("import ptycho\nprint('ran')\n")
    git(checkout, "init", "-q", "-b", "dose_experiments")
    git(checkout, "add", ".")
    git(checkout, "commit", "-q", "-m", "x")
    head = git(checkout, "rev-parse", "HEAD")
    # set *after* the commit: the user's config would run this at every `git status` unless disabled
    git(checkout, "config", "core.fsmonitor", "touch %s" % (tmp_path / "PWNED_AT_TRACE"))
    r = run_py(["-m", "parity_tracer", "run", "--out", tmp_path / "out", "main.py"], cwd=checkout)
    assert r.returncode == 0 and r.stdout == "ran\n", r.stderr
    doc = json.loads((tmp_path / "out" / "parity_telemetry.json").read_text())
    assert (doc["provenance"]["commit_hash"], doc["provenance"]["branch"], doc["provenance"]["dirty"]) == \
        (head, "dose_experiments", False)
    assert not (tmp_path / "PWNED_AT_TRACE").exists()

    # a received run folder: its origin now points into a repository whose config runs a command
    evil = tmp_path / "received" / "evil"
    (evil / "ptycho").mkdir(parents=True)
    (evil / "ptycho" / "__init__.py").write_text("")
    git(evil, "init", "-q")
    git(evil, "config", "core.fsmonitor", "touch %s" % (tmp_path / "PWNED_AT_REDUCE"))
    shutil.copytree(tmp_path / "out" / "streams", tmp_path / "received" / "streams")
    for path in (tmp_path / "received" / "streams").glob("*.jsonl"):
        lines = [json.loads(l) for l in path.read_bytes().splitlines() if l.strip()]
        for ev in lines:
            if ev["kind"] == "origin":
                ev["path"] = "evil/ptycho/__init__.py"         # relative: resolves against the received folder
        path.write_text("".join(json.dumps(ev) + "\n" for ev in lines))
    r = cli("reduce", tmp_path / "received", "-o", tmp_path / "received" / "doc.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "PWNED_AT_REDUCE").exists()
    assert json.loads((tmp_path / "received" / "doc.json").read_text())["provenance"]["commit_hash"] == head
    # the reducer holds no way to run a program at all
    for module in sorted((REPO / "parity_tracer" / "document").glob("*.py")):
        source = module.read_text()
        assert "subprocess" not in source and "os.system" not in source, module


# -- 2 ---------------------------------------------------------------------------------------------------------------

PROGRAM = """
    import os, shutil, sys
    import mylib
    mylib.work(float(sys.argv[1]))
    foreign = os.environ.get("PLANT_FOREIGN_STREAM")
    if foreign:     # another run's stream appears in our folder while we run
        shutil.copy(foreign, os.path.join(os.environ["PARITY_TRACER_OUT"], "streams", "events-foreign.jsonl"))
    print("done", sys.argv[1])
"""


def mylib(tmp_path):
    (tmp_path / "mylib.py").write_text("def work(x):\n    return [x] * 4\n")
    (tmp_path / "targets.json").write_text(json.dumps([
        {"module": "mylib", "attr": "work", "after": "parity_tracer.capture:record_result"}]))


def test_2_two_runs_into_one_out_never_make_one_document(tmp_path):
    mylib(tmp_path)
    project(tmp_path, PROGRAM)
    runs = []
    for value in ("1.0", "2.0"):
        r = run_py(["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", "out", "prog.py", value],
                   cwd=tmp_path)
        assert r.returncode == 0 and r.stdout == "done %s\n" % value, r.stderr
        runs.append(r)
    first, second = tmp_path / "out", tmp_path / "out-2"       # the second run never writes into the first's folder
    assert str(second / "parity_telemetry.json") in runs[1].stderr
    ids = []
    for folder, value in ((first, 1.0), (second, 2.0)):
        doc = json.loads((folder / "parity_telemetry.json").read_text())
        assert len(doc["tracer"]["streams"]) == 1 and len(doc["tracer"]["run_ids"]) == 1
        ids.append(doc["tracer"]["run_ids"][0])
        stage = [e for e in events(folder) if e["kind"] == "stage"][0]
        assert stage["stats"]["mean"] == value
    assert ids[0] != ids[1]
    assert all(e["kind"] != "header" or e["run_id"] == ids[0] for e in events(first))

    # standalone reduce: refuses to merge runs and names them; --merge-runs merges on request
    mixed = tmp_path / "mixed"
    shutil.copytree(first / "streams", mixed / "streams")
    for f in (second / "streams").iterdir():
        shutil.copy(f, mixed / "streams" / ("b-" + f.name))
    line = one_error_line(cli("reduce", mixed, "-o", mixed / "doc.json", cwd=tmp_path), "reduce")
    assert ids[0] in line and ids[1] in line and "--merge-runs" in line and not (mixed / "doc.json").exists()
    r = cli("reduce", mixed, "-o", mixed / "doc.json", "--merge-runs", cwd=tmp_path)
    assert r.returncode in (0, 1) and sorted(json.loads((mixed / "doc.json").read_text())["tracer"]["run_ids"]) == \
        sorted(ids)

    # the reduce at exit merges only its own run's streams, whatever else lands in the folder
    foreign = next((first / "streams").iterdir())
    r = run_py(["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", "third", "prog.py", "3.0"],
               cwd=tmp_path, env=clean_env(PLANT_FOREIGN_STREAM=foreign))
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "third" / "parity_telemetry.json").read_text())
    assert len(doc["tracer"]["streams"]) == 1 and doc["tracer"]["run_ids"] != [ids[0]]
    assert any("other runs" in n for n in doc["tracer"]["notes"])


# -- 3 ---------------------------------------------------------------------------------------------------------------

def test_3_writes_never_follow_symlinks_or_replace_what_is_not_theirs(tmp_path):
    mylib(tmp_path)
    project(tmp_path, PROGRAM)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    os.chmod(victim / "precious.txt", 0o600)
    # a planted folder with a symlinked streams/ at the run's output path: the run takes a fresh folder
    planted = tmp_path / "out"
    planted.mkdir()
    os.symlink(victim, planted / "streams")
    r = run_py(["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", "out", "prog.py", "1"],
               cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "out-2" / "parity_telemetry.json").is_file(), r.stderr
    assert sorted(p.name for p in victim.iterdir()) == ["precious.txt"]
    assert stat.S_IMODE((victim / "precious.txt").stat().st_mode) == 0o600

    # reduce -o: a neighbour history.json the replaced document did not name is never overwritten or followed
    run = reduced_run(tmp_path)
    (run / "history.json").unlink()
    (run / "parity_telemetry.json").unlink()                  # no document claims history.json any more
    os.symlink(victim / "precious.txt", run / "history.json")
    r = cli("reduce", run / "streams", "-o", run / "parity_telemetry.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads((run / "parity_telemetry.json").read_text())
    assert doc["training"]["history_artifact"] == "history-2.json" and (run / "history-2.json").is_file()
    assert (victim / "precious.txt").read_text() == "keep" and os.path.islink(run / "history.json")
    assert any("history.json exists" in n for n in doc["tracer"]["notes"])
    # the document itself at a symlink: the link is replaced, its target never written
    os.unlink(run / "parity_telemetry.json")
    os.symlink(victim / "precious.txt", run / "parity_telemetry.json")
    assert cli("reduce", run / "streams", "-o", run / "parity_telemetry.json", cwd=tmp_path).returncode == 0
    assert (victim / "precious.txt").read_text() == "keep" and not os.path.islink(run / "parity_telemetry.json")
    if HAS_FIFO:     # a FIFO (or device) named by -o is refused, never replaced
        os.mkfifo(tmp_path / "fifo")
        one_error_line(cli("reduce", run / "streams", "-o", tmp_path / "fifo", cwd=tmp_path), "reduce")
        assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)


# -- 4 ---------------------------------------------------------------------------------------------------------------

def test_4_bundle_copies_only_regular_files_of_the_run(tmp_path):
    run = reduced_run(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    os.chmod(secret, 0o600)
    ckpt = run / "ckpt"
    (ckpt / "variables").mkdir(parents=True)
    (ckpt / "saved_model.pb").write_bytes(b"model")
    os.chmod(ckpt / "saved_model.pb", 0o600)
    os.symlink(secret, ckpt / "stolen.txt")                  # a link out of the run inside the checkpoint
    os.symlink(tmp_path, ckpt / "variables" / "up")          # a linked folder
    doc = json.loads((run / "parity_telemetry.json").read_text())
    doc["training"]["history_artifact"] = str(secret)        # a document may name any path
    doc["training"]["checkpoint_artifact"] = "ckpt"
    (run / "parity_telemetry.json").write_text(json.dumps(doc))
    r = cli("bundle", run, tmp_path / "b", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    bundled = {p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*")}
    assert "history.json" not in bundled and "model_checkpoint/saved_model.pb" in bundled
    assert not any("stolen" in p or "/up" in p for p in bundled)
    assert all(b"private" not in p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()
               and p.name != "README.md")
    assert stat.S_IMODE((tmp_path / "b" / "model_checkpoint" / "saved_model.pb").stat().st_mode) == 0o600
    readme = (tmp_path / "b" / "README.md").read_text()
    left_out = readme.split("## Left out", 1)[1]
    assert str(secret) in left_out and "stolen.txt" in left_out and "--include" in left_out
    # named by the user on the command line, it is copied (still never wider than its source)
    r = cli("bundle", run, tmp_path / "c", "--include", secret, cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "c" / "history.json").read_text() == "private", r.stderr
    assert stat.S_IMODE((tmp_path / "c" / "history.json").stat().st_mode) == 0o600


# -- 5 ---------------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_FIFO, reason="no FIFOs on this system")
def test_5_special_files_never_hang_anything(tmp_path):
    mylib(tmp_path)
    project(tmp_path, """
        import os, mylib
        mylib.work(1.0)
        os.mkfifo(os.path.join(os.environ["PARITY_TRACER_OUT"], "streams", "trap.jsonl"))
        print("done")
    """)
    start = time.monotonic()
    r = run_py(["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", "out", "prog.py"], cwd=tmp_path,
               timeout=60)
    assert r.returncode == 0 and r.stdout == "done\n" and time.monotonic() - start < 30, r.stderr
    assert (tmp_path / "out" / "parity_telemetry.json").is_file()

    run = reduced_run(tmp_path)
    os.mkfifo(tmp_path / "fifo.json")
    for command, args in (("reduce", [tmp_path / "fifo.json", "-o", tmp_path / "d.json"]),
                          ("validate", [tmp_path / "fifo.json"]),
                          ("compare", [tmp_path / "fifo.json", run]),
                          ("bundle", [tmp_path / "fifo.json", tmp_path / "b"])):
        r = cli(command, *args, cwd=tmp_path, timeout=30)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (command, r.stderr)
    r = cli("bundle", run, tmp_path / "b", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    os.unlink(tmp_path / "b" / "checksums.txt")
    os.mkfifo(tmp_path / "b" / "checksums.txt")
    one_error_line(cli("verify", tmp_path / "b", cwd=tmp_path, timeout=30), "verify")

    # a targets file is never read from the program's stdin (or any stream)
    r = run_py(["-m", "parity_tracer", "run", "--targets", "/dev/stdin", "prog.py"], cwd=tmp_path, input="[]",
               timeout=30)
    one_error_line(r, "run")

    # the reduce at exit is bounded in time, whatever it has to do
    r = run_py(["-m", "parity_tracer", "run", "--targets", "targets.json", "--out", "slow", "prog.py"],
               cwd=tmp_path, env=clean_env(PARITY_TRACER_REDUCE_TIMEOUT="0"), timeout=60)
    assert r.returncode == 0 and r.stdout == "done\n", r.stderr
    assert "did not finish" in r.stderr and "python -m parity_tracer reduce" in r.stderr


# -- 6 ---------------------------------------------------------------------------------------------------------------

MAXRSS = """
import resource, sys
from parity_tracer.cli import main
status = main(sys.argv[1:])
try:    # this process's own peak (ru_maxrss may carry the forking parent's peak across exec)
    peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
except Exception:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write("MAXRSS_KB %d\\n" % peak)
sys.exit(status)
"""


def test_6_streams_checksums_and_arrays_are_read_in_bounded_memory(tmp_path):
    run = reduced_run(tmp_path)
    streams = run / "streams"
    os.symlink("/dev/zero", streams / "zero.jsonl")                           # endless
    (streams / "long.jsonl").write_bytes(b'{"kind":"x",' + b" " * (6 << 20) + b"}\n")   # one 6 MB line
    # an array whose header claims 512 MB, in a file of a few hundred bytes
    for amp in run.glob("arrays/*-amplitude.npy"):
        header = amp.read_bytes()[:128].replace(b"(30, 30)", b"(8192, 8192)")
        amp.write_bytes(header + b"\0" * 64)
    (tmp_path / "maxrss.py").write_text(MAXRSS)
    r = run_py(["maxrss.py", "reduce", streams, "-o", run / "parity_telemetry.json", "--merge-runs"], cwd=tmp_path)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr and "MemoryError" not in r.stderr, r.stderr
    assert "zero.jsonl: not a regular file" in r.stderr and "long.jsonl:1: line longer than" in r.stderr
    assert int(r.stderr.split("MAXRSS_KB ")[1].split()[0]) < 400 * 1024, r.stderr[-300:]
    doc = json.loads((run / "parity_telemetry.json").read_text())
    assert any("cannot load" in n and "-amplitude.npy" in n for n in doc["tracer"]["notes"])

    r = cli("bundle", reduced_run(tmp_path, "clean"), tmp_path / "b", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    os.unlink(tmp_path / "b" / "checksums.txt")
    os.symlink("/dev/zero", tmp_path / "b" / "checksums.txt")
    one_error_line(cli("verify", tmp_path / "b", cwd=tmp_path, timeout=30), "verify")


# -- 7 ---------------------------------------------------------------------------------------------------------------

def test_7_bad_input_is_one_line_and_exit_2(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200000 + "]" * 200000)
    one_error_line(cli("validate", deep, cwd=tmp_path), "validate")
    one_error_line(cli("compare", deep, deep, cwd=tmp_path), "compare")
    run = reduced_run(tmp_path)
    long_name = tmp_path / ("x" * 300) / "doc.json"
    one_error_line(cli("reduce", run / "streams", "-o", long_name, cwd=tmp_path), "reduce")
    one_error_line(cli("reduce", run / "streams", "-o", run, cwd=tmp_path), "reduce")                 # a folder
    one_error_line(cli("reduce", run / "streams", "-o", run / "parity_telemetry.json" / "x.json", cwd=tmp_path),
                   "reduce")                                                                            # below a file
    one_error_line(cli("bundle", run, tmp_path / ("y" * 300), cwd=tmp_path), "bundle")
    # a checkpoint file whose name is not UTF-8
    (run / "ckpt").mkdir()
    open(os.path.join(os.fsencode(run / "ckpt"), b"w\xff.bin"), "wb").close()
    doc = json.loads((run / "parity_telemetry.json").read_text())
    doc["training"]["checkpoint_artifact"] = "ckpt"
    (run / "parity_telemetry.json").write_text(json.dumps(doc))
    line = one_error_line(cli("bundle", run, tmp_path / "b", cwd=tmp_path), "bundle")
    assert "not UTF-8" in line and not (tmp_path / "b").exists()
    # stdout on a full disk
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            r = cli("validate", run / "parity_telemetry.json", cwd=tmp_path, stdout=full)
        line = one_error_line(r, "validate")
        assert "No space left on device" in line


# -- 8 ---------------------------------------------------------------------------------------------------------------

def _fresh_bundle(tmp_path, name):
    run = tmp_path / "run" if (tmp_path / "run").is_dir() else reduced_run(tmp_path)
    dest = tmp_path / name
    r = cli("bundle", run, dest, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert cli("verify", dest, cwd=tmp_path).returncode == 0
    return dest


def test_8_verify_is_at_least_as_strict_as_sha256sum(tmp_path):
    # a name listed twice, the second line disagreeing
    dest = _fresh_bundle(tmp_path, "dup")
    with open(dest / "checksums.txt", "ab") as fh:
        fh.write(b"%s  config.json\n" % (b"0" * 64))
    r = cli("verify", dest, cwd=tmp_path)
    assert r.returncode == 1 and "CONFLICT config.json" in r.stdout
    # a member replaced by a symlink out of the bundle (to a file with the very same bytes: sha256sum -c passes)
    dest = _fresh_bundle(tmp_path, "link")
    copy = tmp_path / "outside.json"
    shutil.copy(dest / "config.json", copy)
    os.unlink(dest / "config.json")
    os.symlink(copy, dest / "config.json")
    r = cli("verify", dest, cwd=tmp_path)
    assert r.returncode == 1 and "LINK     config.json" in r.stdout
    # an unlisted symlinked folder
    dest = _fresh_bundle(tmp_path, "dirlink")
    os.symlink(tmp_path, dest / "extra")
    r = cli("verify", dest, cwd=tmp_path)
    assert r.returncode == 1 and "LINK     extra" in r.stdout
    # a carriage return in a listed name (read in binary: it stays part of the name, and is refused)
    dest = _fresh_bundle(tmp_path, "cr")
    (dest / "a\rb").write_bytes(b"x")
    with open(dest / "checksums.txt", "ab") as fh:
        fh.write(b"%s  a\rb\n" % __import__("hashlib").sha256(b"x").hexdigest().encode())
    r = cli("verify", dest, cwd=tmp_path)
    assert r.returncode == 1 and "UNSAFE" in r.stdout and "Traceback" not in r.stderr


# -- 9 ---------------------------------------------------------------------------------------------------------------

def test_9_bundle_force_replaces_only_a_bundle_of_ours_that_verifies(tmp_path):
    run = reduced_run(tmp_path)
    lookalike = tmp_path / "lookalike"
    lookalike.mkdir()
    (lookalike / "checksums.txt").write_text("")
    (lookalike / "thesis.tex").write_text("years of work")
    line = one_error_line(cli("bundle", run, lookalike, "--force", cwd=tmp_path), "bundle")
    assert "not a previous bundle" in line and (lookalike / "thesis.tex").read_text() == "years of work"

    dest = _fresh_bundle(tmp_path, "b")
    (dest / "README.md").write_text("edited by hand")          # no longer verifies: not replaced
    one_error_line(cli("bundle", run, dest, "--force", cwd=tmp_path), "bundle")
    assert (dest / "README.md").read_text() == "edited by hand"

    dest = _fresh_bundle(tmp_path, "good")
    r = cli("bundle", run, dest, "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert cli("verify", dest, cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []   # nothing left aside


# -- 10 --------------------------------------------------------------------------------------------------------------

HANDLERS = """
import os, signal, sys

def exits(call):
    raise SystemExit(3)

def prints(call):
    print("handler output")

def interrupts(call):
    os.kill(os.getpid(), signal.SIGINT)     # the user's Ctrl-C arriving while a handler runs
    import time
    time.sleep(5)
"""


def test_10_targets_files_are_data_not_code(tmp_path):
    mylib(tmp_path)
    project(tmp_path, """
        import mylib
        mylib.work(1.0)
        print("after")
    """)
    (tmp_path / "myhandlers.py").write_text(HANDLERS)

    def targets(after):
        (tmp_path / "t.json").write_text(json.dumps([{"module": "mylib", "attr": "work", "after": after}]))

    for ref in ("sys:exit", "builtins:print", "parity_tracer.capture:os.system", "parity_tracer.profiles."
                "ptychopinn.artifacts:save_array"):
        targets(ref)
        line = one_error_line(run_py(["-m", "parity_tracer", "run", "--targets", "t.json", "prog.py"],
                                     cwd=tmp_path), "run")
        assert "--allow-handler-module" in line
        # through the environment the program still runs, untraced, exactly as without us
        r = run_py(["prog.py"], cwd=tmp_path, env=clean_env(PYTHONPATH=[REPO / "sitecustomize_example"],
                                                             PARITY_TRACER=1, PARITY_TRACER_TARGETS="t.json",
                                                             PARITY_TRACER_OUT=tmp_path / "envout"))
        assert r.returncode == 0 and r.stdout == "after\n" and "tracing disabled" in r.stderr, r.stderr
        shutil.rmtree(tmp_path / "envout", ignore_errors=True)

    # an allowed module: whatever its handler raises, SystemExit included, is contained and counted
    targets("myhandlers:exits")
    r = run_py(["-m", "parity_tracer", "run", "--allow-handler-module", "myhandlers", "--targets", "t.json",
                "--out", "allowed", "prog.py"], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "after\n", r.stderr
    doc = json.loads((tmp_path / "allowed" / "parity_telemetry.json").read_text())
    assert doc["tracer"]["errors"].get("capture") == 1
    # ... while the user's Ctrl-C still interrupts the program as it would untraced (killed by SIGINT)
    targets("myhandlers:interrupts")
    r = run_py(["-m", "parity_tracer", "run", "--targets", "t.json", "--out", "ctrlc", "prog.py"], cwd=tmp_path,
               env=clean_env(PARITY_TRACER_ALLOW_HANDLER_MODULE="myhandlers"))
    assert r.returncode == -signal.SIGINT and "after" not in r.stdout, (r.returncode, r.stderr)


# -- 11 --------------------------------------------------------------------------------------------------------------

def _world_writable(root):
    bad = []
    for folder, dirs, files in os.walk(root):
        for name in [folder] + [os.path.join(folder, f) for f in files]:
            mode = os.lstat(name).st_mode
            if not stat.S_ISLNK(mode) and mode & (stat.S_IWOTH | stat.S_IWGRP):
                bad.append((name, oct(mode)))
    return bad


def test_11_nothing_written_is_group_or_world_writable_under_umask_0(tmp_path):
    run = reduced_run(tmp_path)
    out = tmp_path / "outputs"
    out.mkdir(mode=0o755)
    code = textwrap.dedent("""
        import os, sys
        os.umask(0)
        from parity_tracer.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    (tmp_path / "umask0.py").write_text(code)
    r = run_py(["umask0.py", "compare", run, run, "-o", out / "report.txt", "--plot", out / "plot.png"],
               cwd=tmp_path)
    assert r.returncode in (0, 1) and (out / "report.txt").is_file(), r.stderr
    r = run_py(["umask0.py", "reduce", run / "streams", "-o", out / "doc" / "parity_telemetry.json"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr        # the missing folder is made 0o755, not 0o777
    r = run_py(["umask0.py", "bundle", run, out / "bundle"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_py(["umask0.py", "demo", "--out", out / "demo"], cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert len(list(out.rglob("*"))) > 20
    assert _world_writable(out) == []


# -- 12 --------------------------------------------------------------------------------------------------------------

def test_12_reduce_writes_only_documents_that_validate(tmp_path):
    run = reduced_run(tmp_path)
    stream = next((run / "streams").glob("*.jsonl"))
    lines = [json.loads(l) for l in stream.read_bytes().splitlines() if l.strip()]
    for ev in lines:
        if ev["kind"] == "inference":
            ev["predictions"] = -5
            ev["stitched_shape"] = [-1, "x"]
    stream.write_text("".join(json.dumps(ev) + "\n" for ev in lines))
    r = cli("reduce", run / "streams", "-o", run / "parity_telemetry.json", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr.strip().endswith("(valid)"), r.stderr
    assert cli("validate", run / "parity_telemetry.json", cwd=tmp_path).returncode == 0
    doc = json.loads((run / "parity_telemetry.json").read_text())
    assert doc["inference"]["predictions"] is None

    # --plot reports the file it really wrote (the exact name given), or why it wrote none
    r = cli("compare", run, run, "--plot", tmp_path / "out", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    if "matplotlib is not installed" not in r.stderr:
        assert "plot -> %s\n" % (tmp_path / "out") in r.stderr
        assert (tmp_path / "out").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not (tmp_path / "out").exists() and not (tmp_path / "out.png").exists()
