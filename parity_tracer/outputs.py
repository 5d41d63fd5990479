"""The one place through which every file and folder the tool writes goes.

Rules (the traced program's folders and a received run folder are both places an attacker may have prepared):
- a new file is created with ``O_CREAT|O_EXCL|O_NOFOLLOW``: a planted symlink or an existing file is never
  written through;
- a file that must replace another (a re-reduced document, an array saved again) is written to a private temp file
  in the same folder and renamed over it: the rename replaces a symlink, it never follows it; a device, FIFO or
  folder in its place is refused;
- folders are created with ``mkdir`` (0o755) or ``mkdtemp`` (0o700); a folder the tool needs *inside* one of its
  own (``streams/``, ``arrays/``) must be a real folder of this user, never a symlink;
- modes are 0o644 / 0o755 minus the umask: never world-writable whatever the umask, and nothing is ever
  ``chmod``-ed except a file this call has just created (a copy narrowed to its source's mode).
The host's umask is process state and is never changed.
"""

import errno
import os
import stat
import tempfile

FILE_MODE = 0o644
DIR_MODE = 0o755
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafeOutput(OSError):
    """The path cannot be written without following a link or replacing something that is not ours to replace."""


def makedirs(path):
    """A folder the user named (and its missing parents), each created DIR_MODE; existing folders are used as
    they are (the user chose them). ``mkdir -p`` semantics, but never 0o777 for the intermediate ones."""
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
            raise UnsafeOutput(errno.ENOTDIR, "exists and is not a folder", path)


def subdir(parent, name):
    """``parent/name``, a folder of ours inside a folder of ours: created, or an existing real folder owned by
    this user (a symlink or someone else's folder is refused)."""
    path = os.path.join(os.fspath(parent), name)
    try:
        os.mkdir(path, DIR_MODE)
        return path
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeOutput(errno.ENOTDIR, "exists and is not a real folder (symlink or file)", path)
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise UnsafeOutput(errno.EPERM, "folder belongs to another user", path)
    return path


def claim_dir(path, claim="streams"):
    """A folder for one run, claimed exclusively: ``path`` when it is new, or an empty folder of this user that an
    exclusive mkdir of ``claim`` inside it claims; else ``path-2``, ``path-3``... Returns the folder claimed. Two
    runs never share a folder, whatever order they start in. ``claim=None``: only a folder created here counts."""
    path = os.path.abspath(os.fspath(path))
    makedirs(os.path.dirname(path))
    for n in range(1, 1000):
        candidate = path if n == 1 else "%s-%d" % (path, n)
        try:
            os.mkdir(candidate, DIR_MODE)
            fresh = True
        except FileExistsError:
            fresh = False
        try:
            if not fresh:
                st = os.lstat(candidate)
                if claim is None or not stat.S_ISDIR(st.st_mode) or os.listdir(candidate) or (
                        hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
                    continue
            if claim is not None:
                os.mkdir(os.path.join(candidate, claim), DIR_MODE)   # the claim itself: exclusive
            return candidate
        except FileExistsError:
            continue
        except OSError:
            if fresh:
                raise
            continue
    raise UnsafeOutput(errno.EEXIST, "no free folder next to it", path)


def private_dir(parent, prefix):
    """A new folder only this user can enter (``mkdtemp``, 0o700) inside ``parent``."""
    return tempfile.mkdtemp(prefix=prefix, dir=os.fspath(parent))


def create(path, mode=FILE_MODE):
    """A new binary file for writing; refuses anything already at ``path`` (a symlink included)."""
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    try:
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def check_replaceable(path):
    """Raise UnsafeOutput unless ``path`` is absent, a regular file or a symlink (which a rename replaces
    without following); its folder must exist and be a folder."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UnsafeOutput(errno.ENOTDIR, "its folder does not exist or is not a folder", path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise UnsafeOutput(errno.EISDIR, "is a folder", path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise UnsafeOutput(errno.EEXIST, "is a device, FIFO or socket: not replaced", path)


def replace(path, write):
    """Write a file by ``write(fh)`` into a private temp file next to ``path`` and rename it over ``path``:
    readers never see half a file, and nothing at ``path`` is followed or written through."""
    path = os.path.abspath(os.fspath(path))
    check_replaceable(path)
    folder, name = os.path.split(path)
    for _ in range(100):
        tmp = os.path.join(folder, ".%s.%s.tmp" % (name[:80], os.urandom(6).hex()))
        try:
            fh = create(tmp)
            break
        except FileExistsError:
            continue
    else:
        raise UnsafeOutput(errno.EEXIST, "cannot create a temporary file", path)
    try:
        with fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_bytes(path, data, exclusive=False):
    """``data`` to ``path``: a new file (``exclusive``) or one replacing whatever regular file was there."""
    if exclusive:
        with create(path) as fh:
            fh.write(data)
        return os.fspath(path)
    return replace(path, lambda fh: fh.write(data))


def copy_file(src_fd, dst, src_mode):
    """Copy an open regular file to a new ``dst``, never wider than its source (``src_mode & FILE_MODE``)."""
    with create(dst, 0o600) as out:
        os.fchmod(out.fileno(), stat.S_IMODE(src_mode) & FILE_MODE | 0o400)   # ours, just created: narrow
        while True:
            block = os.read(src_fd, 1 << 20)
            if not block:
                break
            out.write(block)
