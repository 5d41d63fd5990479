"""When to patch: in the defining module's post-import hook, at once for modules already imported, and again
after ``importlib.reload``; and how to take it all back (``Patcher.uninstall``).

Patching inside the defining module's hook runs before any importer's ``from x import f`` binds, so those
aliases get the wrapper too. Attribute lookups go through ``__dict__`` (never ``getattr`` on a module), so a lazy
module ``__getattr__`` that would build a model is never triggered.
"""

import inspect
import sys
import threading

import wrapt

from parity_tracer import faults, forksafe
from parity_tracer.targets import CapturePoint, point as make_point
from parity_tracer.wrapper import TracedFunction, make_wrapper

_MISSING = object()

# ``importlib.reload`` rebinds module attributes to fresh, unwrapped functions and post-import hooks do not fire
# again; patching ``reload`` itself (through the same safe wrapper) lets us re-apply the module's patches. Its
# handler is each patcher's own (bound in its recorder), never looked up by name.
RELOAD_HANDLER = "parity_tracer.hooks:reload"
RELOAD_POINT = make_point("importlib", "reload", after=RELOAD_HANDLER, name="importlib::reload")


class Patcher:
    def __init__(self, points, recorder, emit):
        self.recorder = recorder
        self.emit = emit                      # emit(kind, fields) for patch events
        self.by_module = {}
        for p in list(points) + [RELOAD_POINT]:
            self.by_module.setdefault(p.module, []).append(p)
        self.status = {}                      # canonical -> status
        self.installed = False
        self._replaced = []                   # (namespace, key, wrapper, original): what uninstall puts back
        self._hooks = []                      # (module name, hook) registered with wrapt
        self._lock = threading.RLock()
        recorder.bind_handler(RELOAD_HANDLER, self._after_reload)
        _LIVE.add(self)

    def _after_fork(self):
        self._lock = threading.RLock()        # another thread may have held it at fork time

    def install(self):
        """Register a post-import hook per module; modules already imported are patched at once."""
        self.installed = True
        already = [name for name in self.by_module if name in sys.modules]
        for name in self.by_module:
            try:
                faults.check("hook")
                register_hook(self._hooks, name, self._hook)
            except Exception as exc:
                self.recorder.failed("hook", name, exc)
        # A module imported before we started may have been from-imported elsewhere already.
        for name in already:
            module = sys.modules.get(name)
            if module is not None:
                self._rebind_stale_aliases(module)

    def uninstall(self):
        """Undo ``install``: every attribute we replaced (patches, rebound aliases, ``importlib.reload``) gets its
        original back where it still holds our wrapper (a value the program assigned since is left alone), and our
        post-import hooks leave wrapt's registry (see ``unregister_hooks`` for what wrapt lets us undo)."""
        with self._lock:
            self.installed = False
            replaced, self._replaced = self._replaced, []
            for owner, key, wrapped, original in reversed(replaced):
                try:
                    if isinstance(owner, dict):           # a module namespace holding a rebound alias
                        if owner.get(key) is wrapped:
                            owner[key] = original
                    elif vars(owner).get(key) is wrapped:   # a module or class (its vars() is read-only)
                        if original is _MISSING:
                            delattr(owner, key)
                        else:
                            setattr(owner, key, original)
                except Exception as exc:
                    self.recorder.failed("hook", key, exc)
            unregister_hooks(self._hooks)

    def _after_reload(self, call):
        module = call.result
        if self.installed and module is not None:
            self.patch_module(module, reason="reload")

    def _hook(self, module):
        if not self.installed:
            return        # wrapt could not forget this hook (see unregister_hooks): it does nothing now
        # An exception escaping a post-import hook would make the *target's* import fail: catch everything.
        try:
            self.patch_module(module, reason="import")
        except Exception as exc:
            try:
                self.recorder.failed("hook", getattr(module, "__name__", "?"), exc)
            except Exception:
                pass

    def patch_module(self, module, reason):
        faults.check("hook")
        name = module.__name__
        with self._lock:
            for p in self.by_module.get(name, ()):
                try:
                    self._patch_one(module, p, reason)
                except Exception as exc:
                    self._report(p, name, "failed", "%s: %s" % (type(exc).__name__, exc))
                    self.recorder.failed("hook", p, exc)

    def _patch_one(self, module, p: CapturePoint, reason):
        found = _resolve(module, p.attr)
        if found is None:
            self._report(p, module.__name__, "missing", "no attribute %r" % p.attr)
            return
        parent, attr, original = found
        if isinstance(original, TracedFunction):
            return  # patched already (a second hook firing, or a re-export)
        wrapped = TracedFunction(original, make_wrapper(p, self.recorder), p)
        self.recorder.register_original(p, _callable_of(original))
        # a method inherited from a base class is patched on the class named; uninstall then deletes it there
        own = not inspect.isclass(parent) or attr in vars(parent)
        setattr(parent, attr, wrapped)
        self._replaced.append((parent, attr, wrapped, original if own else _MISSING))
        status = {"import": "patched", "reload": "repatched"}.get(reason, "patched")
        self._report(p, module.__name__, status, None)

    def _rebind_stale_aliases(self, defining):
        """Replace ``from x import f`` copies of originals in other loaded modules by the wrapper."""
        originals = {}
        for p in self.by_module.get(defining.__name__, ()):
            if "." in p.attr:
                continue  # class attributes are reached through the class object, which is shared
            current = defining.__dict__.get(p.attr, _MISSING)
            if isinstance(current, TracedFunction):
                originals[id(current.__wrapped__)] = (current, p)
        if not originals:
            return
        for mod_name, mod in list(sys.modules.items()):
            if mod is None or mod is defining or mod_name.startswith("parity_tracer"):
                continue
            try:
                namespace = mod.__dict__
            except Exception:
                continue
            for key, value in list(namespace.items()):
                hit = originals.get(id(value))
                if hit is not None and value is hit[0].__wrapped__:
                    namespace[key] = hit[0]
                    self._replaced.append((namespace, key, hit[0], value))
                    self._report(hit[1], mod_name, "rebound", "%s.%s" % (mod_name, key))

    def _report(self, p, module_name, status, detail):
        self.status[p.canonical] = status
        try:
            self.emit("patch", {"target": p.canonical, "module": module_name, "status": status, "detail": detail})
        except Exception:
            pass

    def summary(self):
        """canonical -> status, with ``not_imported`` for targets whose module never loaded."""
        out = {}
        for name, points in self.by_module.items():
            for p in points:
                if p is RELOAD_POINT:
                    continue
                out[p.canonical] = self.status.get(p.canonical, "not_imported")
        return out


_LIVE = forksafe.Instances(Patcher._after_fork)


def register_hook(registered, name, hook):
    """``wrapt.register_post_import_hook(hook, name)``, remembered in ``registered`` for ``unregister_hooks``."""
    registered.append((name, hook))
    wrapt.register_post_import_hook(hook, name)


def unregister_hooks(registered):
    """Take our post-import hooks out of wrapt's registry of modules not imported yet.

    wrapt has no public way to remove a hook: this edits its registry (``wrapt.importer._post_import_hooks``, the
    same in wrapt 1.14 and 2.x) under its lock, and drops a module's entry once it is empty (wrapt 1.14 keeps an
    empty entry for a module whose hooks fired, and fails to register a new hook for it once the module is gone
    from ``sys.modules``). Where that registry is not there the hooks stay registered; every hook of ours checks
    that its owner is still active and does nothing otherwise. wrapt's import finder stays on ``sys.meta_path``:
    it is wrapt's, shared with every other user of post-import hooks.
    """
    pairs = list(registered)
    del registered[:]
    try:
        from wrapt import importer
        registry, lock = importer._post_import_hooks, importer._post_import_hooks_lock
    except (ImportError, AttributeError):
        return False
    with lock:
        for name, hook in pairs:
            hooks = registry.get(name)
            if hooks is not None:
                remaining = [h for h in hooks if h is not hook]
                if remaining:
                    registry[name] = remaining
                else:
                    registry.pop(name, None)
    return True


def _resolve(module, path):
    """(parent, attribute, original) for ``path`` inside ``module``, or None when absent.

    Module namespaces are read through ``__dict__`` (no module ``__getattr__``); classes through their MRO's
    ``__dict__`` so that staticmethod/classmethod descriptors are wrapped as descriptors.
    """
    parts = path.split(".")
    parent = module
    for i, part in enumerate(parts):
        value = _lookup(parent, part)
        if value is _MISSING:
            return None
        if i == len(parts) - 1:
            return parent, part, value
        parent = value
    return None


def _lookup(owner, name):
    if inspect.isclass(owner):
        for klass in inspect.getmro(owner):
            if name in vars(klass):
                return vars(klass)[name]
        return _MISSING
    try:
        return vars(owner).get(name, _MISSING)
    except TypeError:
        return _MISSING


def _callable_of(original):
    # staticmethod/classmethod objects: the signature lives on the function inside
    return getattr(original, "__func__", original)

