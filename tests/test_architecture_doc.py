"""docs/architecture.md describes the tree as it is: every module of the package has its row (or is named in its
package's row), and every path a row names exists."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "parity_tracer"
DOC = REPO / "docs" / "architecture.md"
SKIP_DIRS = {PACKAGE / "demo" / "standin"}          # the stand-in mirrors PtychoPINN's layout, described as one


def _rows():
    """(first cell, whole row) of the module table: the rows whose first cell names a path of the package."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `parity_tracer/"):
            rows.append((line.split("|")[1], line))
    return rows


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(d == path.parent or d in path.parents for d in SKIP_DIRS):
            continue
        if path.name in ("__init__.py", "__main__.py") and path.parent != PACKAGE / "profiles":
            continue
        yield path


def _documented(path, rows):
    rel = path.relative_to(REPO).as_posix()
    folder = path.parent.relative_to(REPO).as_posix() + "/"
    for first, row in rows:
        if "`%s`" % rel in first:
            return True
        named = re.findall(r"`([^`]+)`", first)
        if any(n.startswith(folder) or n == folder for n in named) and (
                re.search(r"`%s(\.py)?`" % re.escape(path.stem), row) or "`%s`" % path.name in row):
            return True
    return False


def test_every_module_has_its_row():
    rows = _rows()
    assert rows, "no module table in docs/architecture.md"
    missing = [p.relative_to(REPO).as_posix() for p in _modules() if not _documented(p, rows)]
    assert missing == [], "modules docs/architecture.md does not describe: %s" % missing


def test_every_path_a_row_names_exists():
    gone = []
    for first, _ in _rows():
        names = re.findall(r"`([^`]+)`", first)
        base = None
        for name in names:
            if name.startswith("parity_tracer/"):
                base = name if name.endswith("/") else name.rsplit("/", 1)[0] + "/"
                target = REPO / name
            else:   # `configuration.py` after `.../document/provenance.py`, `validate.py` after `.../schema/`
                target = REPO / (base or "") / name
                if not target.exists() and base:
                    target = (REPO / base).parent / name
            if not target.exists():
                gone.append(name)
    assert gone == [], "docs/architecture.md names paths that do not exist: %s" % gone
