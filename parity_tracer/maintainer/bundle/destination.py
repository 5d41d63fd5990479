"""Where a bundle goes: DEST checks, the private work folder it is built in, sealing it (checksums, then
verified), and the swap into place that leaves DEST as it was when anything fails."""

import os
import shutil
from pathlib import Path

from parity_tracer import inputs, jsonio, outputs
from parity_tracer.maintainer.bundle.build import build, load_doc
from parity_tracer.maintainer.bundle.checksums import MARKER, MARKER_FORMAT, BundleError, inside, verify, \
    write_checksums


def _is_our_bundle(dest):
    """A previous bundle of this tool: it holds our marker (a regular file naming our format) and verifies."""
    try:
        marker = jsonio.loads(inputs.read_bytes(dest / MARKER, limit=1 << 16, follow=False))
        if not isinstance(marker, dict) or marker.get("format") != MARKER_FORMAT:
            return False
        return verify(dest)["ok"]
    except (OSError, ValueError, BundleError):
        return False


def _aside(dest):
    """Move ``dest`` to a fresh hidden sibling name (never over anything); returns the new path."""
    for _ in range(100):
        old = dest.parent / (".%s.old-%s" % (dest.name, os.urandom(6).hex()))
        if not os.path.lexists(old):
            os.rename(dest, old)
            return old
    raise BundleError("cannot move %s aside" % dest)


def _one_run(run_dir, run):
    """The folder of the document to bundle: RUN_DIR itself, or (``--run``) one run of a multi-run folder."""
    from parity_tracer.document import segment
    try:
        if run is not None:
            if not segment.is_multi_run(run_dir):
                raise BundleError("--run %s: %s holds a single run (no %s)" % (run, run_dir, segment.RUNS_INDEX))
            return segment.find_run(run_dir, run)["dir"]
        if segment.is_multi_run(run_dir):
            labels = ", ".join(r["label"] for r in segment.list_runs(run_dir))
            raise BundleError("%s holds several runs (%s): choose one with --run LABEL" % (run_dir, labels))
    except segment.RunsError as exc:
        raise BundleError(str(exc))
    return run_dir


def work_dir_for(dest):
    """A private temporary sibling of ``dest`` (mkdtemp, 0o700) to build in; renamed into place once complete, so
    DEST never holds half a bundle."""
    outputs.makedirs(dest.parent)
    return Path(outputs.private_dir(dest.parent, ".%s.tmp-" % dest.name[:60]))


def seal(work):
    """checksums.txt of every file in ``work``, then verified; returns the number listed. Copies kept their
    (never wider) source modes; the folder, ours, becomes readable like any output."""
    count = write_checksums(work)
    result = verify(work)
    if not result["ok"]:
        raise BundleError("self-check of the new bundle failed: %s" % result)
    os.chmod(work, outputs.DIR_MODE)
    return count


def make_bundle(run_dir, dest, force=False, includes=(), run=None):
    run_dir = Path(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    if not run_dir.is_dir():
        raise BundleError("%s is not a run directory" % run_dir)
    run_dir = Path(os.path.abspath(run_dir))
    dest = Path(os.path.abspath(dest))
    if inside(Path(os.path.realpath(run_dir)), Path(os.path.realpath(dest))) or inside(run_dir, dest):
        raise BundleError("DEST %s is the run directory or contains it" % dest)
    for inc in includes:
        if not os.path.exists(inc):
            raise BundleError("--include %s: no such file or folder" % inc)
    top, run_dir = run_dir, _one_run(run_dir, run)
    if run_dir != top:     # one run of a multi-run folder: its arrays live in the folder the user named
        includes = list(includes) + [top]
    replace = False
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise BundleError("DEST %s exists and is not a directory" % dest)
        if any(dest.iterdir()):
            if not force:
                raise BundleError("DEST %s is not empty (use --force to replace a previous bundle)" % dest)
            if not _is_our_bundle(dest):
                raise BundleError("DEST %s is not empty and is not a previous bundle of parity_tracer that verifies "
                                  "(no %s, or its checksums fail): refusing to replace it, even with --force"
                                  % (dest, MARKER))
            replace = True
    load_doc(run_dir)     # unusable input fails before anything is written
    work = work_dir_for(dest)
    try:
        b = build(run_dir, work, includes)
        count = seal(work)
        if replace:
            old = _aside(dest)
            try:
                os.rename(work, dest)
            except BaseException:
                os.rename(old, dest)
                raise
            shutil.rmtree(old, ignore_errors=True)
        elif dest.exists():
            os.rmdir(dest)                        # the empty folder the user gave
            os.rename(work, dest)
        else:
            os.rename(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return b, count
