"""What to patch, declared as data.

A capture point names a module, an attribute path inside it and the handlers that turn a call into events.
Handlers are referenced as ``"package.module:function"`` strings so that a target set can live in a JSON file.
"""

import importlib
import json
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class CapturePoint:
    module: str                       # module that defines the attribute (patching there covers from-imports)
    attr: str                         # attribute path, e.g. "RawData.generate_grouped_data"
    after: Optional[str] = None       # handler run after the original returns or raises
    before: Optional[str] = None      # handler run before the original is called
    name: Optional[str] = None        # canonical "module::qualname" written to events (defaults to module::attr)
    options: Tuple[Tuple[str, object], ...] = field(default_factory=tuple)  # handler options, hashable

    @property
    def canonical(self) -> str:
        return self.name or "%s::%s" % (self.module, self.attr)

    def option(self, key, default=None):
        for k, v in self.options:
            if k == key:
                return v
        return default


def point(module, attr, after=None, before=None, name=None, **options) -> CapturePoint:
    return CapturePoint(module, attr, after, before, name, tuple(sorted(options.items())))


def with_prefix(points: List[CapturePoint], prefix: str, root: str) -> List[CapturePoint]:
    """Re-root a target set: modules under ``root`` move under ``prefix`` (the canonical names stay).

    The demo imports its synthetic ``ptycho`` package as ``parity_tracer.demo....ptycho``; events keep the
    canonical ``ptycho.…`` names so that the reducer's stage map applies unchanged.
    """
    if not prefix or prefix == root:
        return list(points)
    out = []
    for p in points:
        if p.module == root or p.module.startswith(root + "."):
            out.append(CapturePoint(prefix + p.module[len(root):], p.attr, p.after, p.before, p.canonical, p.options))
        else:
            out.append(p)
    return out


def load_targets_file(path: str) -> List[CapturePoint]:
    """A JSON list of {"module", "attr", "after"?, "before"?, "name"?, "options"?}."""
    with open(path, "rb") as fh:
        raw = json.loads(fh.read().decode("utf-8"))
    if not isinstance(raw, list):
        raise ValueError("%s: expected a JSON list of capture points" % path)
    points = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "module" not in item or "attr" not in item:
            raise ValueError("%s: entry %d needs 'module' and 'attr'" % (path, i))
        opts = item.get("options") or {}
        points.append(point(item["module"], item["attr"], item.get("after"), item.get("before"),
                            item.get("name"), **opts))
    return points


_handler_cache: Dict[str, Callable] = {}


def resolve_handler(ref: Optional[str]) -> Optional[Callable]:
    """Import ``"pkg.mod:func"`` once. Handlers live in the tracer or a profile, never in the target."""
    if not ref:
        return None
    fn = _handler_cache.get(ref)
    if fn is None:
        mod_name, _, func_name = ref.partition(":")
        obj = importlib.import_module(mod_name)
        for part in func_name.split("."):
            obj = getattr(obj, part)
        fn = _handler_cache[ref] = obj
    return fn
