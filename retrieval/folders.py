"""Folders of files written whole and read without trusting them (``retrieval.store`` saves indexes so).

Writing: files go to a new folder beside the target, each hashed as it is written and synced to disk,
then the folder takes the target's place in one step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere
two renames, the old folder kept until the new one is in). A reader of the target sees the old folder
or the new one, never a mix, even with several writers at once.

Single files (an article in the seeds folder): ``write_file`` writes a hidden temporary file beside the
target, syncs it, renames it over the target and syncs the folder, so a reader (or a restart after a
crash) finds the old file or the new one, never half of one; ``remove_file`` unlinks and syncs.

Reading: a ``ReadFolder`` is opened once and its files relative to it, regular files only: a symbolic
link, FIFO, device or folder is refused before it is opened (opening a FIFO blocks until a writer
comes; reading ``/dev/zero`` never ends), and files are opened with ``O_NOFOLLOW | O_NONBLOCK`` in case
one was swapped in between. Reads are bounded by the size the file had when opened.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import glob
import io
import mmap
import os
import secrets
import shutil
import stat
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from retrieval.errors import IndexFileError

__all__ = [
    "CHECKSUM",
    "Checksum",
    "HashingWriter",
    "ReadFolder",
    "checksum",
    "forget_pages",
    "map_npy",
    "new_file",
    "one_line",
    "remove_file",
    "replace_folder",
    "write_file",
]

CHECKSUM = "crc32"
"""The file checksum (its name in the manifest): zlib's CRC-32, which catches damage (a flipped bit, a
cut, a block of zeros, a file from another save) and is no signature: whoever can write the files can
write the manifest too. At a million sentences (1.36 GB) it costs 0.5 s of CPU, SHA-256 1.0–1.4 s even
with the CPU's SHA extensions, BLAKE2b 1.9 s (``benchmarks/store_cost.py``)."""
_CHUNK = 1 << 20
_SWAP_ATTEMPTS = 20
_STALE_SECONDS = 3600
"""A folder being written beside the target, untouched this long, was left by a writer that died."""


def one_line(text: object) -> str:
    """``text`` on one line (what the OS, JSON or NumPy said may hold newlines)."""
    return " ".join(str(text).split())


# -- writing -------------------------------------------------------------------------------------


class Checksum:
    """A running ``CHECKSUM`` with hashlib's ``update`` and ``hexdigest``."""

    def __init__(self, data: bytes = b"") -> None:
        self.value = zlib.crc32(data)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.value = zlib.crc32(data, self.value)  # releases the GIL on large buffers

    def hexdigest(self) -> str:
        return f"{self.value:08x}"


class HashingWriter:
    """A binary file that checksums and counts what is written through it."""

    def __init__(self, file: BinaryIO) -> None:
        self.file, self.hash, self.size = file, Checksum(), 0

    def write(self, data: bytes | memoryview) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.file.write(data)


@contextlib.contextmanager
def new_file(path: Path) -> Iterator[HashingWriter]:
    """Create ``path`` (it must not exist), hashing what is written; synced to disk when the block ends."""
    with path.open("xb") as file:
        writer = HashingWriter(file)
        yield writer
        file.flush()
        os.fsync(file.fileno())


def _fsync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """Linux's ``renameat2`` (glibc 2.28 on), or None where there is none."""
    try:
        function: Any = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    renameat2: Callable[..., int] = function
    return renameat2


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool | None:
    """Swap two paths in one step: True when done, False when ``b`` does not exist, None when unsupported."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return None
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code == errno.ENOENT:
        return False
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return None  # this file system cannot exchange (or a sandbox forbids it)
    raise OSError(code, os.strerror(code), str(b))


def _sibling(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def _remove_stale(target: Path) -> None:
    """Remove folders that writers killed mid-way left beside ``target`` (untouched for an hour)."""
    for kind in ("saving", "old"):
        for path in target.parent.glob(f".{glob.escape(target.name)}.{kind}-*"):
            with contextlib.suppress(OSError):
                if time.time() - path.lstat().st_mtime > _STALE_SECONDS:
                    shutil.rmtree(path)


def _swap_in(staging: Path, target: Path) -> None:
    """Make ``staging`` the folder at ``target``; afterwards ``staging`` holds the old folder, if any.

    Another writer may move ``target`` between two steps here: then the steps are tried again.
    """
    for _ in range(_SWAP_ATTEMPTS):
        exchanged = _exchange(staging, target)
        if exchanged:
            return
        if exchanged is None and os.path.lexists(target):
            # No atomic exchange here: move the old folder aside, the new one in, then drop the old.
            old = _sibling(target, "old")
            try:
                os.rename(target, old)
            except FileNotFoundError:
                continue
            try:
                os.rename(staging, target)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    with contextlib.suppress(OSError):
                        os.rename(old, target)  # put the old one back
                    raise
                shutil.rmtree(old, ignore_errors=True)  # another writer's folder went in meanwhile
                continue
            shutil.rmtree(old, ignore_errors=True)
            return
        try:
            os.rename(staging, target)  # nothing at target (or an empty folder)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    raise OSError(errno.EBUSY, "other saves kept replacing it", str(target))


def replace_folder(folder: Path, write: Callable[[Path], None], replaceable: Callable[[list[str]], bool]) -> None:
    """Have ``write`` fill a new folder, then put it in place of ``folder`` (parents created if needed).

    ``replaceable(names)`` says whether an existing folder holding ``names`` may be replaced (an empty
    one always may); if not, ``FileExistsError``. A link to a folder is followed: the folder it points to
    is replaced. The new folder gets the old one's permissions.
    """
    target = folder.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        names = [entry.name for entry in os.scandir(target)]
    except FileNotFoundError:
        names = []
    except NotADirectoryError:
        raise FileExistsError(errno.EEXIST, "it exists and is not a folder", str(target)) from None
    if names and not replaceable(names):
        raise FileExistsError(errno.EEXIST, "it holds files other than a saved index: not replacing it", str(target))
    if os.path.ismount(target):
        raise OSError(
            errno.EBUSY, "it is a mount point, and a saved index is replaced whole: use a folder in it", str(target)
        )
    _remove_stale(target)
    staging = _sibling(target, "saving")
    os.mkdir(staging)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(staging, stat.S_IMODE(os.stat(target).st_mode))
        write(staging)
        _fsync(staging)
        _swap_in(staging, target)
        _fsync(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the old folder, or what a failed write left


_TEMPORARY = ".writing-"
"""How the temporary files of ``write_file`` begin: hidden, so that a seeds folder's reader skips them."""


def _plain_name(name: str) -> str:
    """``name`` when it names a file right inside a folder (no separator, not hidden, not . or ..)."""
    if not name or name.startswith(".") or "/" in name or "\0" in name or (os.altsep and os.altsep in name):
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def write_file(folder: Path, name: str, data: bytes) -> None:
    """Make ``folder/name`` hold ``data``, whole or not at all (see the module's docstring).

    ``name`` must be a plain file name (``ValueError`` otherwise): the file cannot land outside ``folder``.
    Temporary files that a writer killed mid-way left (untouched for an hour) are removed.
    """
    target = folder / _plain_name(name)
    for stale in folder.glob(f"{_TEMPORARY}*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - stale.lstat().st_mtime > _STALE_SECONDS:
                stale.unlink()
    temporary = folder / f"{_TEMPORARY}{os.getpid()}-{secrets.token_hex(6)}.tmp"
    try:
        with new_file(temporary) as out:
            out.write(data)
        os.replace(temporary, target)  # a link at target is replaced itself, never followed
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    _fsync(folder)


def remove_file(folder: Path, name: str) -> bool:
    """Remove ``folder/name`` (a plain file name) and sync the folder; False when there was no such file."""
    try:
        (folder / _plain_name(name)).unlink()
    except FileNotFoundError:
        return False
    _fsync(folder)
    return True


# -- reading -------------------------------------------------------------------------------------


_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class ReadFolder:
    """A folder opened once; its files are opened relative to it, regular files only.

    A writer that swaps another folder in meanwhile cannot mix the two: what this one opens comes from
    the folder it opened (``replaced()`` then tells that reading again would find newer files).
    ``damaged(name, problem)`` makes the error to raise about one of its files.
    """

    def __init__(self, path: Path, damaged: Callable[[Path, str], IndexFileError]) -> None:
        self.path, self.damaged = path, damaged
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise IndexFileError(f"not a saved index (no such folder): {path}") from None
        except OSError as exc:
            raise IndexFileError(f"not a saved index ({exc.strerror or exc}): {path}") from None

    def close(self) -> None:
        os.close(self.fd)

    def replaced(self) -> bool:
        """Whether the path now names another folder than the one opened."""
        try:
            now, opened = os.stat(self.path), os.fstat(self.fd)
        except OSError:
            return True
        return (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino)

    def open(self, name: str) -> tuple[int, int]:
        """Open a regular file without blocking or following links; return its descriptor and size.

        Raises ``FileNotFoundError`` when there is no such file, ``IndexFileError`` when it is no regular file.
        """
        path = self.path / name
        try:
            # Look first: opening a FIFO or a device may block or act, even without reading.
            kind = stat.S_IFMT(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode)
            if kind != stat.S_IFREG:
                raise self.damaged(path, f"is {_KINDS.get(kind, 'not a regular file')}, not a regular file")
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            raise
        except OSError as exc:  # unreadable, or ELOOP: a link swapped in since the look
            raise self.damaged(path, exc.strerror or str(exc)) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise self.damaged(path, "is not a regular file")
        return fd, info.st_size


def read_bounded(fd: int, size: int) -> bytes:
    """Read a file's first ``size`` bytes at most, whatever it has grown to."""
    chunks, left = [], size
    while left > 0 and (chunk := os.pread(fd, min(left, _CHUNK), size - left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def checksum(fd: int) -> str:
    """The ``CHECKSUM`` of a whole file, read in 1 MB chunks (other threads run meanwhile)."""
    digest = Checksum()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    offset = 0
    while read := os.preadv(fd, [buffer], offset):
        digest.update(view[:read])
        offset += read
    return digest.hexdigest()


def map_npy(fd: int, size: int, dtype: np.dtype[Any], length: int) -> np.ndarray:
    """Check a ``.npy`` file's header against ``dtype`` and ``(length,)``; map its data read-only.

    Raises ``ValueError`` (the message says what differs) for anything else.
    """
    with io.FileIO(fd, closefd=False) as file:
        file.seek(0)
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, fortran, found = np.lib.format.read_array_header_1_0(file)
        elif version == (2, 0):
            shape, fortran, found = np.lib.format.read_array_header_2_0(file)
        else:
            raise ValueError(f"has .npy format {version}, not 1.0 or 2.0")
        start = file.tell()
    if found != dtype or found.str != dtype.str:
        raise ValueError(f"holds {found.str}, an index holds {dtype.str} there")
    if fortran or shape != (length,):
        raise ValueError(f"has shape {shape}, the manifest says ({length},)")
    if start + length * dtype.itemsize != size:
        raise ValueError(f"is {size} bytes, its header says {start + length * dtype.itemsize}")
    if not length:
        empty = np.empty(0, dtype)
        empty.flags.writeable = False
        return empty
    mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    return np.frombuffer(mapped, dtype=dtype, count=length, offset=start)


def forget_pages(arrays: Iterable[np.ndarray]) -> None:
    """Let this process forget the pages of arrays from ``map_npy`` (after checks read them all).

    They stay in the page cache; a later read maps them again without touching the disk. So checking
    a large index does not leave it counted as resident in every process that loaded it.
    """
    for array_ in arrays:
        base = array_.base
        mapped = base.obj if isinstance(base, memoryview) else base
        if isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            mapped.madvise(mmap.MADV_DONTNEED)
