"""``python -m parity_tracer bundle RUN_DIR DEST`` and ``python -m parity_tracer verify DEST``: parse -> library
call -> exit status (bundle: 0 built, 2 unusable input or DEST; verify: 0 ok, 1 problems, 2 unusable bundle)."""

import shlex
import sys
from pathlib import Path

from parity_tracer.maintainer.bundle.checksums import CHECKSUMS, BundleError, verify
from parity_tracer.maintainer.bundle.destination import make_bundle


def add_arguments(parser):
    parser.description = "Lay out a run as the spec §4.3 maintainer bundle."
    parser.add_argument("run_dir", help="the traced run's output directory (holds parity_telemetry.json)")
    parser.add_argument("dest", help="bundle directory to create")
    parser.add_argument("--force", action="store_true", help="replace DEST when it holds a previous bundle")
    parser.add_argument("--include", action="append", default=[], metavar="PATH",
                        help="also copy artifacts the document names at or under PATH (outside the run directory)")
    parser.add_argument("--run", metavar="LABEL",
                        help="a folder holding several runs (runs.json): bundle this one (label, index-label or index)")


def command(args):
    try:
        b, count = make_bundle(args.run_dir, args.dest, force=args.force, includes=args.include, run=args.run)
    except (BundleError, OSError) as exc:
        sys.stderr.write("parity_tracer: bundle: %s\n" % exc)
        return 2
    dest = Path(args.dest)
    for name, what, _ in sorted(b.members):
        sys.stdout.write("  %-24s %s\n" % (name, what))
    sys.stderr.write("parity_tracer: bundle: %d files -> %s (%d deviation%s in README.md); check with: "
                     "cd %s && sha256sum -c %s\n" % (count + 1, dest, len(b.deviations),
                                                     "" if len(b.deviations) == 1 else "s", shlex.quote(str(dest)),
                                                     CHECKSUMS))
    return 0


def add_verify_arguments(parser):
    parser.description = "Re-check every checksum of a bundle."
    parser.add_argument("dest", help="bundle directory")


def verify_command(args):
    try:
        r = verify(args.dest)
    except BundleError as exc:
        sys.stderr.write("parity_tracer: verify: %s\n" % exc)
        return 2
    out = sys.stdout
    for name in r["missing"]:
        out.write("MISSING  %s\n" % name)
    for name, expected, actual in r["altered"]:
        out.write("ALTERED  %s (expected %s, got %s)\n" % (name, expected, actual))
    for name in r["extra"]:
        out.write("EXTRA    %s (not in %s)\n" % (name, CHECKSUMS))
    for name in r["unlisted_required"]:
        out.write("UNLISTED %s (a bundle must list it in %s)\n" % (name, CHECKSUMS))
    for name in r["conflicts"]:
        out.write("CONFLICT %s (listed twice with different sums)\n" % name)
    for name in r["links"]:
        out.write("LINK     %s (a bundle holds no symbolic links)\n" % name)
    for name in r["unsafe_names"]:
        out.write("UNSAFE   %r (control character in a member name)\n" % name)
    if r["ok"]:
        out.write("OK: %d files match %s\n" % (r["checked"], CHECKSUMS))
        return 0
    out.write("FAILED: %d missing, %d altered, %d extra, %d required file(s) not listed, %d conflicting, "
              "%d link(s), %d unsafe name(s) (%d listed)\n" % (
                  len(r["missing"]), len(r["altered"]), len(r["extra"]), len(r["unlisted_required"]),
                  len(r["conflicts"]), len(r["links"]), len(r["unsafe_names"]), r["checked"]))
    return 1
