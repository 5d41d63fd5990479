"""Files and folders the tracer writes: never world-writable, whatever the host's umask.

The umask is process state of the host program, so it is never changed; modes are set per file instead
(0o644 files, 0o755 folders: readable by the maintainer's tools, writable only by the owner).
"""

import os

FILE_MODE = 0o644
DIR_MODE = 0o755


def makedirs(path):
    """``os.makedirs`` giving *every* folder it creates DIR_MODE (makedirs gives the intermediate ones 0o777
    minus the umask: world-writable under ``umask 0``). Existing folders are left as they are."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        makedirs(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


def open_new(path):
    """A binary file for writing (created or truncated) with FILE_MODE."""
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)   # the umask may have removed bits only; an existing file keeps no others
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def restrict_tree(root):
    """FILE_MODE / DIR_MODE on everything below ``root`` (symlinks untouched): for trees built by copying."""
    for folder, dirs, files in os.walk(os.fspath(root)):
        os.chmod(folder, DIR_MODE)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, FILE_MODE)
