"""Writing files so that a reader never sees half of one, and keeping vedrun's records private.

Everything vedrun keeps under its home holds production evidence: folders are 0700, files
0600, whatever the umask, and a folder found looser (made by an older vedrun) is tightened
without a word. Files vedrun opens for locking or appending are never followed through a
symbolic link: a link planted there would make vedrun write where someone else chose.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from vedrun.errors import VedrunError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class LinkRefused(VedrunError):
    """A file vedrun writes is a symbolic link (or not a regular file): refused, never followed."""


def tighten(path: Path, mode: int) -> None:
    """chmod to `mode` when the path is looser and ours; never follows a symbolic link."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return
    if stat.S_IMODE(info.st_mode) & ~mode:
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IMODE(info.st_mode) & mode)


def private_dir(path: Path, *, tighten_existing: bool = True) -> Path:
    """The folder, created 0700 with any missing parent, or (a folder of vedrun's home found
    looser) tightened to 0700."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=PRIVATE_DIR)
    if tighten_existing and path.is_dir():
        tighten(path, PRIVATE_DIR)
    return path


def open_private(path: Path, flags: int) -> int:
    """os.open for a file of vedrun's own (a lock, the journal): created 0600, tightened if
    looser, never through a symbolic link and never anything but a regular file."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     PRIVATE_FILE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkRefused(_link_message(path)) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise LinkRefused(f"Refusing {path}: it is not a regular file. vedrun keeps its locks and "
                          "journal there; remove whatever was put in its place and run again.")
    os.set_blocking(fd, True)
    if stat.S_IMODE(info.st_mode) & ~PRIVATE_FILE and info.st_uid == os.geteuid():
        os.fchmod(fd, PRIVATE_FILE)
    return fd


def _link_message(path: Path) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return (f"Refusing {path}: it is a symbolic link (to {target}). vedrun never follows a link "
            "there: it would write where the link points. Check who made it, remove it "
            f"(rm {path}) and run again.")


def atomic_write(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one. The file is 0600 (mkstemp)
    and a folder created for it is 0700 (an existing one, e.g. where `rca -o` writes, is left
    as it is)."""
    private_dir(path.parent, tighten_existing=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tighten_tree(root: Path) -> None:
    """Every folder under root 0700 and every file 0600 (fetched backups); links are left alone."""
    if not Path(root).is_dir():
        return
    tighten(Path(root), PRIVATE_DIR)
    for folder, dirs, files in os.walk(root):  # os.walk does not follow links to folders
        for name in dirs:
            tighten(Path(folder) / name, PRIVATE_DIR)
        for name in files:
            tighten(Path(folder) / name, PRIVATE_FILE)
