"""The bundle's layout and its integrity: member names, ``checksums.txt`` (GNU sha256sum format, written and
read back) and ``verify`` (missing, altered, extra, linked and unlisted members)."""

import hashlib
import os
import re
import stat
from pathlib import Path

from parity_tracer import inputs, outputs

TELEMETRY = "parity_telemetry.json"
CHECKSUMS = "checksums.txt"
README = "README.md"
CONFIG = "config.json"
HISTORY = "history.json"
CHECKPOINT_DIR = "model_checkpoint"
RAW_DATA = "raw_data.npz"
MARKER = "parity_tracer_bundle.json"       # written by this tool into every bundle; --force needs it
MARKER_FORMAT = "parity-tracer-bundle/1"
REQUIRED_MEMBERS = (README, TELEMETRY, CONFIG)
MAX_CHECKSUMS_BYTES = 64 << 20
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")
CHUNK = 1 << 20
_SUM_LINE = re.compile(r"^(\\?)([0-9a-fA-F]{64}) [ *](.+)$")


class BundleError(Exception):
    """Unusable input or destination (exit status 2)."""


def sha256_file(path, follow=True):
    h = hashlib.sha256()
    with inputs.open_regular(path, follow) as fh:
        while True:
            block = fh.read(CHUNK)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _escape_name(name):
    """GNU sha256sum escaping: a name with a backslash or newline gets a leading backslash on its line."""
    if "\\" in name or "\n" in name:
        return True, name.replace("\\", "\\\\").replace("\n", "\\n")
    return False, name


def _unescape_name(name):
    out, i = [], 0
    while i < len(name):
        c = name[i]
        if c == "\\" and i + 1 < len(name):
            nxt = name[i + 1]
            out.append("\n" if nxt == "n" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def tree(root):
    """(regular files, links, special files) below ``root`` as posix relative paths; symlinked folders are listed
    as links, never entered."""
    files, links, special = [], [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                links.append(Path(os.path.relpath(os.path.join(dirpath, d), root)).as_posix())
                dirnames.remove(d)
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = Path(os.path.relpath(full, root)).as_posix()
            mode = os.lstat(full).st_mode
            (files if stat.S_ISREG(mode) else links if stat.S_ISLNK(mode) else special).append(rel)
    return sorted(files), sorted(links), sorted(special)


def files_under(root):
    """Every regular file below ``root`` as a posix relative path (links are not followed)."""
    return tree(root)[0]



def inside(child, parent):
    """True when path ``child`` is ``parent`` or below it (both as given: resolve them first where it matters)."""
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def portable(name):
    """A member name every checksum tool reads back the same way: UTF-8, no control characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _UNSAFE_NAME.search(name)



def write_checksums(root):
    root = Path(root)
    lines = []
    for rel in files_under(root):
        if rel == CHECKSUMS:
            continue
        escaped, name = _escape_name(rel)
        lines.append("%s%s  %s\n" % ("\\" if escaped else "", sha256_file(root / rel, follow=False), name))
    outputs.write_bytes(root / CHECKSUMS, "".join(lines).encode("utf-8"), exclusive=True)
    return len(lines)


def read_checksums(root, conflicts=None):
    """name -> sha256, read in binary (no newline translation: a ``\\r`` stays part of its name). A name listed
    twice with different sums is added to ``conflicts`` when given."""
    path = Path(root) / CHECKSUMS
    try:
        data = inputs.read_bytes(path, limit=MAX_CHECKSUMS_BYTES, follow=False)
    except OSError as exc:
        raise BundleError("%s: cannot read (%s)" % (path, inputs.error_text(exc)))
    entries = {}
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError("%s:%d: not UTF-8" % (path, lineno))
        m = _SUM_LINE.match(line)
        if m is None:
            raise BundleError("%s:%d: not a sha256sum line" % (path, lineno))
        name = _unescape_name(m.group(3)) if m.group(1) else m.group(3)
        if name.startswith("./"):
            name = name[2:]
        parts = Path(name).parts
        if os.path.isabs(name) or ".." in parts or not parts:
            raise BundleError("%s:%d: unsafe path %r (absolute or outside the bundle)" % (path, lineno, name))
        key = Path(name).as_posix()
        digest = m.group(2).lower()
        if key in entries and entries[key] != digest and conflicts is not None:
            conflicts.append(key)
        entries.setdefault(key, digest)
    return entries


def _through_link(root, name):
    """True when ``name`` (relative to root) is a link or passes through one."""
    p = Path(root)
    for part in Path(name).parts:
        p = p / part
        if os.path.islink(p):
            return True
    return False


def verify(root):
    """{'ok', 'missing', 'altered', 'extra', 'unlisted_required', 'checked'}; raises BundleError when unusable."""
    root = Path(root)
    if root.is_symlink() or not root.is_dir():
        raise BundleError("%s is not a directory" % root)
    conflicts = []
    entries = read_checksums(root, conflicts)
    missing, altered, links, unsafe = [], [], [], []
    for name, expected in sorted(entries.items()):
        if not portable(name):
            unsafe.append(name)
            continue
        f = root / name
        if _through_link(root, name):
            links.append(name)
            continue
        if not os.path.lexists(f):
            missing.append(name)
            continue
        try:
            actual = sha256_file(f, follow=False)
        except OSError as exc:
            altered.append((name, expected, "unreadable: %s" % inputs.error_text(exc)))
            continue
        if actual != expected:
            altered.append((name, expected, actual))
    files, tree_links, special = tree(root)
    links = sorted(set(links) | set(tree_links))
    extra = [p for p in files + special if p != CHECKSUMS and p not in entries]
    # the telemetry may carry another name (dose-experiments --parity-log): any listed top-level document counts
    telemetry_listed = TELEMETRY in entries or any(
        n.endswith(".json") and "/" not in n and n not in (CONFIG, HISTORY, MARKER) for n in entries)
    unlisted = [m for m in REQUIRED_MEMBERS if m not in entries and not (m == TELEMETRY and telemetry_listed)]
    ok = not (missing or altered or extra or unlisted or links or unsafe or conflicts)
    return {"ok": ok, "missing": missing, "altered": altered, "extra": extra, "unlisted_required": unlisted,
            "links": links, "unsafe_names": unsafe, "conflicts": sorted(set(conflicts)), "checked": len(entries)}

