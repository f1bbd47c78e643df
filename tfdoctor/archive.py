"""Snapshot archives (.tar.gz): read one from a stranger without trusting it, and write one that says nothing about
the machine's users.

Reading checks the whole archive before a byte is extracted (a first pass over the headers only): member count,
each member's size, the total size, how much the archive expands, names (no absolute paths, no `..`, no deep or
long paths) and types (regular files and directories only: no links, devices or FIFOs). Every read goes through a
budget, so that a header that lies (a pax or GNU long-name record of gigabytes) or a stream that never ends costs no
more than the limits; a deadline bounds the time. The extraction directory is registered with tfdoctor.proc, so it
is removed on every path out: a rejected archive, a timeout, an interrupt, the end of the run.

Writing makes every member uid/gid 0 with no user or group name, modes 0644/0755, and goes through a temporary file
created exclusively in the destination's directory (a planted symlink is never followed) and a rename.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import stat
import tarfile
import tempfile
import time
import zlib
from pathlib import Path, PurePosixPath

from tfdoctor import proc

MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_RATIO = 200  # expanded size / archive size, once more than RATIO_FLOOR bytes have come out
RATIO_FLOOR = 8 * 1024 * 1024
MAX_DEPTH = 24  # path components of one member name
MAX_NAME = 1024  # characters of one member name
HEADER_ALLOWANCE = 1024  # bytes of headers per member counted on top of the data
DEFAULT_DEADLINE_S = 30.0


class ArchiveError(Exception):
    """An archive that is refused: the message is the one line the user sees (without the archive's path)."""


class _Budget:
    """A read-only stream that refuses to give out more than `limit` bytes in total, or to go on past `end`."""

    def __init__(self, raw, limit: int, end: float, compressed: int):
        self._raw = raw
        self._limit = limit
        self._end = end
        self._compressed = max(compressed, 1)
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        if time.monotonic() > self._end:
            raise ArchiveError("could not be read within the time limit")
        room = self._limit - self.count
        want = room + 1 if n is None or n < 0 else min(n, room + 1)
        data = self._raw.read(max(want, 0))
        self.count += len(data)
        if self.count > self._limit:
            raise ArchiveError(f"expands to more than {self._limit // (1024 * 1024)} MiB")
        if self.count > RATIO_FLOOR and self.count > MAX_RATIO * self._compressed:
            raise ArchiveError(f"expands more than {MAX_RATIO} times its size (an archive bomb?)")
        return data


def _decompressor(fh):
    """The archive's bytes, decompressed by what its first bytes say it is (gzip, bzip2, xz, or a plain tar)."""
    magic = fh.read(6)
    fh.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if magic[:3] == b"BZh":
        return bz2.BZ2File(fh, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(fh, "rb")
    return fh


_DAMAGED = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, ValueError, UnicodeError)


def _check_name(name: str) -> str:
    if not name or "\x00" in name:
        raise ArchiveError(f"holds a member with an unusable name: {name[:80]!r}")
    if len(name) > MAX_NAME:
        raise ArchiveError(f"holds a path longer than {MAX_NAME} characters: {name[:80]!r}...")
    if name.startswith("/") or ".." in PurePosixPath(name).parts:
        raise ArchiveError(f"unsafe path in archive: {name[:200]!r} escapes the snapshot")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(f"holds a path deeper than {MAX_DEPTH} folders: {name[:80]!r}...")
    return "/".join(parts)


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if member.issym() or member.islnk():
        raise ArchiveError(f"archive holds a link ({name[:200]!r} -> {member.linkname[:200]!r}); snapshots hold "
                           "no links")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"archive holds a special file: {name[:200]!r}")
    _check_name(name)
    if member.size > MAX_MEMBER_BYTES:
        raise ArchiveError(f"member {name[:200]!r} is {member.size} bytes; a snapshot file is at most "
                           f"{MAX_MEMBER_BYTES // (1024 * 1024)} MiB")


@contextlib.contextmanager
def _stream(path: Path, end: float):
    """The archive's members as a stream (read once, nothing seeked) through the budget."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # never waits on a FIFO swapped in
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ArchiveError("is not a regular file (a FIFO or a device is never read)")
        limit = MAX_TOTAL_BYTES + MAX_MEMBERS * HEADER_ALLOWANCE
        budget = _Budget(_decompressor(fh), limit, end, st.st_size)
        with tarfile.open(fileobj=budget, mode="r|") as tar:
            yield tar


def _validate(path: Path, end: float) -> None:
    """First pass: every header, no data kept."""
    count = total = 0
    with _stream(path, end) as tar:
        for member in tar:
            count += 1
            if count > MAX_MEMBERS:
                raise ArchiveError(f"holds more than {MAX_MEMBERS} members")
            _check_member(member)
            total += member.size
            if total > MAX_TOTAL_BYTES:
                raise ArchiveError(f"holds more than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB of files")
            tar.members.clear()  # a stream keeps every header it read otherwise
    if count == 0:
        raise ArchiveError("is an empty archive")


def extract(path: str | os.PathLike, deadline: float | None = None) -> str:
    """Check, then extract, the snapshot archive at `path` into a new temporary directory, and return it.

    The directory is registered with tfdoctor.proc (removed by `proc.cleanup()` and by `proc.remove_temp`); on any
    refusal it is already gone. Raises ArchiveError with a one-line reason.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ArchiveError(exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise ArchiveError("is not a regular file (a FIFO or a device is never read)")
    end = deadline if deadline is not None else time.monotonic() + DEFAULT_DEADLINE_S
    try:
        _validate(path, end)
    except ArchiveError:
        raise
    except tarfile.ReadError as exc:
        raise ArchiveError(f"not a snapshot directory or tar archive ({exc})") from None
    except _DAMAGED as exc:
        raise ArchiveError(f"damaged archive ({type(exc).__name__}: {exc})") from None
    tmp = proc.register_temp(tempfile.mkdtemp(prefix="tfdoctor-replay-"))
    root = Path(tmp)
    try:
        with _stream(path, end) as tar:
            for member in tar:
                rel = _check_name(member.name)
                target = root / rel if rel else root
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    with open(target, "wb") as out:
                        left = member.size
                        while left > 0 and src is not None:
                            chunk = src.read(min(left, 1024 * 1024))
                            if not chunk:
                                break
                            out.write(chunk)
                            left -= len(chunk)
                tar.members.clear()
    except BaseException as exc:
        proc.remove_temp(tmp)
        if isinstance(exc, ArchiveError):
            raise
        if isinstance(exc, _DAMAGED):
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
            raise ArchiveError(f"could not be extracted ({reason})") from None
        raise
    return tmp


# -- writing ---------------------------------------------------------------------------------------------------

def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_tar(workdir: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Write the tree under `workdir` as a .tar.gz at `dest` (replacing it): members owned by uid/gid 0 with no user
    or group names, through a temporary file created exclusively beside `dest` and a rename."""
    workdir, dest = Path(workdir), Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    proc.register_temp(tmp)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
                for p in sorted(workdir.rglob("*")):
                    tar.add(p, arcname=str(p.relative_to(workdir)), recursive=False, filter=_anonymous)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        proc.remove_temp(tmp)
        raise
    proc.release_temp(tmp)
    with contextlib.suppress(OSError):
        proc.fsync_dir(str(dest.parent))
