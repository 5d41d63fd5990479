"""The spec §4.3 delivery folder of one run, written through ``bundle`` (layout, checksums, verify).

The folder is built in a temporary sibling and renamed into place once ``checksums.txt`` verifies, so a
destination never holds half a delivery. A failed pipeline still gets a folder: its README says what happened and
``logs/pipeline.log`` keeps the traceback.
"""

import os
import shutil
from pathlib import Path

from parity_tracer import inputs, outputs
from parity_tracer.maintainer import bundle

LOG_DIR = "logs"


class DeliveryError(Exception):
    pass


def check_destination(dest):
    """A new or empty folder, never a symlink: a delivery never replaces anything."""
    dest = Path(dest)
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise DeliveryError("%s exists and is not a folder" % dest)
    if dest.is_dir() and any(dest.iterdir()):
        raise DeliveryError("%s is not empty: a delivery goes to a new folder" % dest)


def _demote(markdown):
    return "\n".join(("#" + line) if line.startswith("#") else line for line in markdown.splitlines())


def write(dest, run_dir, head, parity_log=bundle.TELEMETRY, raw_data=None, files=(), includes=()):
    """Build the delivery at ``dest``. ``head``: the README's first sections (markdown); ``files``: (name in the
    folder, source path) pairs copied as they are (logs, the launch plan); ``includes``: folders of ours outside
    the trace folder whose artifacts the document may name (the pipeline's working directory). Returns a summary
    dict."""
    dest = Path(os.path.abspath(dest))
    check_destination(dest)
    work = bundle.work_dir_for(dest)
    try:
        deviations, problem = [], None
        telemetry = None
        try:
            b = bundle.build(Path(run_dir), work, includes, raw_data=raw_data)
            deviations = list(b.deviations)
            body = (work / bundle.README).read_text(encoding="utf-8")
            telemetry = work / bundle.TELEMETRY
            if parity_log != bundle.TELEMETRY:
                os.rename(telemetry, work / parity_log)
                telemetry = work / parity_log
                body = body.replace("`%s`" % bundle.TELEMETRY, "`%s`" % parity_log)
        except bundle.BundleError as exc:
            problem = str(exc)
            body = "# Telemetry\n\nNo telemetry document could be bundled: %s\n" % problem
        for name, src in files:
            if src is not None and os.path.isfile(src):
                target = work / name
                outputs.makedirs(target.parent)
                with inputs.open_regular(src, follow=False) as fh:     # a log or plan we wrote: never a link
                    outputs.copy_file(fh.fileno(), target, os.fstat(fh.fileno()).st_mode)
        readme = head.rstrip("\n") + "\n\n" + _demote(body) + "\n"
        outputs.write_bytes(work / bundle.README, readme.encode("utf-8"))
        try:
            count = bundle.seal(work)
        except bundle.BundleError as exc:
            raise DeliveryError(str(exc))
        if dest.is_dir():
            dest.rmdir()                      # empty (checked above)
        os.rename(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"dest": str(dest), "files": count + 1, "deviations": deviations, "bundle_problem": problem,
            "telemetry": str(dest / telemetry.name) if telemetry is not None else None}
