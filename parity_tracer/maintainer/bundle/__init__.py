"""The maintainer delivery (spec §4.1 / §4.3) and its integrity check.

``python -m parity_tracer bundle RUN_DIR DEST [--force]`` lays out::

    README.md              commands used (from the stream headers), environment notes, deviations
    checksums.txt          sha256sum format, paths relative to DEST: ``sha256sum -c checksums.txt`` passes in DEST
    parity_telemetry.json  the run's document, artifact paths rewritten to the bundled files
    config.json            params.cfg snapshot + dataclass config (the document's configuration block)
    raw_data.npz           the run's input npz, or (simulated runs) the captured simulation arrays
    history.json           per-epoch training history
    model_checkpoint/      the saved model (training.checkpoint_artifact), copied as files
    amplitude.npy, phase.npy, ground_truth_amp.npy, ground_truth_phase.npy
    amplitude.png, phase.png   the run's renderings, else rendered from the arrays (needs matplotlib)
    probe_pre.npy, probe_post.npy   the probe before / after normalization, when the run saved them

Whatever the run did not produce is left out and listed under "Deviations" in the README. Arrays are only ever
opened with ``allow_pickle=False``; pickles in a checkpoint directory are copied byte for byte, never loaded.

``python -m parity_tracer verify DEST`` re-hashes every file listed in checksums.txt and reports missing,
altered and extra files (exit 0 ok, 1 problems, 2 unusable bundle).

What is copied: only regular files that lie inside RUN_DIR (after resolving links), or at/under a path the user
names with ``--include PATH``. A document may name any path (``/etc/shadow`` as a history file); such a file is
left out and listed under "Left out" in the README. Symlinks are never followed out of RUN_DIR, also inside a
checkpoint folder; copies are never wider than their source (``mode & 0o644``).

DEST safety: a non-empty DEST is never replaced without ``--force``; with ``--force`` it is replaced only when it
is a previous bundle of this tool (it holds the marker file and verifies) — anything else is refused even then.
DEST may not be RUN_DIR or contain it. The bundle is built in a private temporary sibling directory; the old
bundle is moved aside and deleted only once the new one is complete, so a failed run leaves DEST as it was.

Modules: ``build`` (what is copied or derived), ``readme`` (README.md), ``checksums`` (layout names,
checksums.txt, verify), ``destination`` (DEST safety, work folder, seal, swap), ``command`` (the CLI).
"""


from parity_tracer.maintainer.bundle.build import build
from parity_tracer.maintainer.bundle.checksums import (
    CHECKSUMS, README, TELEMETRY, BundleError, files_under, read_checksums, verify, write_checksums)
from parity_tracer.maintainer.bundle.command import add_arguments, add_verify_arguments, command, verify_command
from parity_tracer.maintainer.bundle.destination import make_bundle, seal, work_dir_for

__all__ = ("CHECKSUMS", "README", "TELEMETRY", "BundleError", "add_arguments", "add_verify_arguments", "build",
           "command", "files_under", "make_bundle", "read_checksums", "seal", "verify", "verify_command",
           "work_dir_for", "write_checksums")
