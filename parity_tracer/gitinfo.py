"""Git provenance of the traced code (commit, branch, dirty), read at trace time in the user's own checkout.

This is the only place the tool runs a program, and only inside the traced process, on the folder of the module
the program itself imported. Nothing read from a stream or document ever reaches here (``reduce`` uses what the
stream recorded). git runs hardened: no fsmonitor or hooks, no pager, no optional locks, no system config, no
prompt, no inherited ``GIT_*`` variables, stdin closed, under a time limit.
"""

import os
import subprocess
import time

TIMEOUT = 2.0          # for all git calls together
_HARDENING = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false",
              "--no-pager"]


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_OPTIONAL_LOCKS": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                "GIT_PAGER": "cat", "PAGER": "cat", "LC_ALL": "C"})
    return env


def _git(directory, args, deadline, env):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    try:
        proc = subprocess.run(["git"] + _HARDENING + ["-C", directory] + args, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=remaining, env=env,
                              close_fds=True)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace").strip()


def describe(path, timeout=TIMEOUT):
    """``{"path", "commit", "branch", "dirty", "error"}`` for the checkout holding ``path`` (file or folder)."""
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    info = {"path": path, "commit": None, "branch": None, "dirty": None, "error": None}
    deadline = time.monotonic() + timeout
    env = _env()
    commit = _git(directory, ["rev-parse", "HEAD"], deadline, env)
    if not commit:
        info["error"] = "not in a git work tree, git missing, or git timed out"
        return info
    info["commit"] = commit
    info["branch"] = _git(directory, ["rev-parse", "--abbrev-ref", "HEAD"], deadline, env)
    status = _git(directory, ["status", "--porcelain", "--untracked-files=no"], deadline, env)
    info["dirty"] = None if status is None else bool(status)
    return info
