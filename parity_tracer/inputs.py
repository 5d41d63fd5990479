"""The one safe reader for files that come from elsewhere (streams, documents, checksum lists, targets files).

A FIFO, device or socket in their place must never hang or flood us: files are opened ``O_NONBLOCK`` (an open
of a FIFO without a writer returns at once) and checked with ``fstat`` to be regular files before one byte is
read. Reads are bounded: a whole file up to a size limit, or line by line up to a maximum line length (a longer
line is reported, never held in memory).
"""

import errno
import os
import stat

MAX_LINE = 4 << 20              # a stream line or checksum line longer than this is corrupt
MAX_DOCUMENT = 256 << 20        # a telemetry document, schema, targets or history file
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 16


class NotRegular(OSError):
    """Not a regular file (FIFO, device, socket, folder), a refused symlink, or over the size limit."""


def open_regular(path, follow=True):
    """A binary file object on a regular file. ``follow=False`` refuses a symlink as the last component."""
    path = os.fspath(path)
    flags = os.O_RDONLY | _NONBLOCK | _CLOEXEC | (0 if follow else _NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise NotRegular(errno.ELOOP, "is a symbolic link (not followed)", path)
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(errno.EINVAL, "is not a regular file (%s)" % _kind(st.st_mode), path)
        if _NONBLOCK and hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def read_bytes(path, limit=MAX_DOCUMENT, follow=True):
    """The whole of a regular file, refused (NotRegular) when larger than ``limit`` bytes."""
    with open_regular(path, follow) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise NotRegular(errno.EFBIG, "is %d bytes, more than the %d allowed" % (size, limit), os.fspath(path))
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise NotRegular(errno.EFBIG, "grew beyond the %d bytes allowed" % limit, os.fspath(path))
    return data


def lines(fh, max_line=MAX_LINE):
    """``(line, complete)`` for each line of a binary file, without its ``\\n``. ``line`` is None for a line
    longer than ``max_line`` (skipped without being held); ``complete`` is False for a last line with no newline."""
    while True:
        line = fh.readline(max_line + 1)
        if not line:
            return
        if len(line) > max_line:
            while line and not line.endswith(b"\n"):    # discard the rest of the over-long line, chunk by chunk
                line = fh.readline(_CHUNK)
            yield None, bool(line)
            continue
        if line.endswith(b"\n"):
            yield line[:-1], True
        else:
            yield line, False


def load_npy(path, limit=2 << 30):
    """A .npy array read without pickles through mmap (memory follows what is used, not what the header claims);
    a regular file only, refused above ``limit`` bytes."""
    import numpy as np
    with open_regular(path) as fh:      # FIFO/device refused before numpy opens anything
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise NotRegular(errno.EFBIG, "is %d bytes, more than the %d allowed" % (size, limit), os.fspath(path))
        # numpy maps by name: the name of the descriptor just checked, where the system has one
        by_fd = "/proc/self/fd/%d" % fh.fileno()
        arr = np.load(by_fd if os.path.exists(by_fd) else os.fspath(path), mmap_mode="r", allow_pickle=False)
    if not isinstance(arr, np.ndarray):
        raise ValueError("not a single .npy array")
    return arr


def error_text(exc):
    """A short reason for an OSError from here or the OS."""
    return exc.strerror or str(exc) or type(exc).__name__
