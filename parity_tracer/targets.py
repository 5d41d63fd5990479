"""What to patch, declared as data.

A capture point names a module, an attribute path inside it and the handlers that turn a call into events.
Handlers are referenced as ``"package.module:function"`` strings so that a target set can live in a JSON file.
"""

import importlib
import os
import re
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple


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


# A targets file is data, so the handlers it names come from this set only (``module:function`` with the
# function looked up in ``capture.HANDLERS``), or from modules the user allows on the command line
# (``--allow-handler-module`` / PARITY_TRACER_ALLOW_HANDLER_MODULE): an arbitrary ``sys:exit`` never runs.
BUILTIN_HANDLER_MODULE = "parity_tracer.capture"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MAX_TARGETS_BYTES = 4 << 20


class TargetsError(ValueError):
    """The targets file is unreadable, malformed, or names a handler it may not use."""


def _check_handler(path, i, key, ref, allowed_modules):
    if ref is None:
        return
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise TargetsError("%s: entry %d: %s must be \"module:function\"" % (path, i, key))
    module, func = ref.split(":")
    if not _NAME.match(module) or not _NAME.match(func):
        raise TargetsError("%s: entry %d: %s %r is not a module:function name" % (path, i, key, ref))
    if module == BUILTIN_HANDLER_MODULE and "." not in func and not func.startswith("_"):
        return
    if module in allowed_modules:
        return
    raise TargetsError("%s: entry %d: handler %r is not one of parity_tracer's handlers (%s:record_result, "
                       "%s:record_arguments); allow its module with --allow-handler-module %s"
                       % (path, i, ref, BUILTIN_HANDLER_MODULE, BUILTIN_HANDLER_MODULE, module))


def allowed_handler_modules(settings):
    """The modules ``--allow-handler-module`` lets a targets file take handlers from."""
    return [m.strip() for m in (settings.allow_handler_modules or "").split(",") if m.strip()]


def load_targets_file(path: str, allowed_modules=()) -> List[CapturePoint]:
    """A JSON list of {"module", "attr", "after"?, "before"?, "name"?, "options"?}, read as hostile data: a
    regular file only (never ``/dev/stdin``, a FIFO or a device), bounded, handlers from the allowed set."""
    from parity_tracer import inputs, jsonio
    real = os.path.realpath(path)
    if real.startswith(("/dev/", "/proc/")):
        raise TargetsError("%s: not a regular file (a targets file is never read from a device or a stream)" % path)
    try:
        data = inputs.read_bytes(path, limit=_MAX_TARGETS_BYTES)
        raw = jsonio.loads(data)
    except OSError as exc:
        raise TargetsError("%s: %s" % (path, inputs.error_text(exc)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TargetsError("%s: not JSON (%s)" % (path, (str(exc).splitlines() or [type(exc).__name__])[0][:120]))
    if not isinstance(raw, list):
        raise TargetsError("%s: expected a JSON list of capture points" % path)
    allowed = set(allowed_modules or ())
    points = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("module"), str) or \
                not isinstance(item.get("attr"), str):
            raise TargetsError("%s: entry %d needs string 'module' and 'attr'" % (path, i))
        for key in ("after", "before"):
            _check_handler(path, i, key, item.get(key), allowed)
        opts = item.get("options") or {}
        if not isinstance(opts, dict) or not isinstance(item.get("name", ""), (str, type(None))):
            raise TargetsError("%s: entry %d: 'options' must be an object and 'name' a string" % (path, i))
        try:
            points.append(point(item["module"], item["attr"], item.get("after"), item.get("before"),
                                item.get("name"), **{str(k): v for k, v in opts.items()}))
        except TypeError as exc:
            raise TargetsError("%s: entry %d: %s" % (path, i, exc))
    return points


def resolve_handler(ref: Optional[str]) -> Optional[Callable]:
    """Import ``"pkg.mod:func"``. Handlers live in the tracer or a profile, never in the target (the recorder
    keeps what it resolved)."""
    if not ref:
        return None
    mod_name, _, func_name = ref.partition(":")
    if mod_name == BUILTIN_HANDLER_MODULE:
        from parity_tracer.capture import HANDLERS
        fn = HANDLERS.get(func_name)      # the registry, never an arbitrary attribute of the module
        if fn is None:
            raise LookupError("parity_tracer has no handler %r" % func_name)
        return fn
    obj = importlib.import_module(mod_name)
    for part in func_name.split("."):
        obj = getattr(obj, part)
    return obj
