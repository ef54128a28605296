"""Writing results so that nothing is lost: atomic files under unique temporary names.

Every file memtier writes goes through :func:`atomic_write` (or :func:`write_text`,
:func:`write_bytes`, :func:`save_figure`):

1. :func:`check_output` is called *before* any work: the folder must exist, the path must not
   be a folder, an existing file is kept unless ``force``, and an output is never one of the
   command's inputs (not even with ``force``: ``--force`` allows replacing an earlier
   result, never destroying what the command reads).
2. The content is written to a temporary file created exclusively (``O_EXCL``, a
   random name chosen before the file is created) under a unique name in the destination's folder, so no file of
   the user's (``out.csv.tmp``, ``.out.csv.partial``) can ever be written over or renamed away.
3. The temporary file is flushed and ``fsync``-ed, then renamed onto the final name in one
   step (``rename(2)`` is atomic within a file system), and the folder is ``fsync``-ed.
   Without ``force`` the final name is claimed with ``link(2)``, which fails if a file
   appeared there meanwhile; nothing is replaced.

So a reader sees either no file or a complete one; an interrupted run leaves at most a hidden
temporary file, which is removed on every exception (``KeyboardInterrupt`` included).
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(path, *, force: bool = False, inputs=(), what: str = "output") -> Path:
    """Check that ``path`` can be written, before the work that produces it starts.

    Parameters
    ----------
    path : path-like
        The file to write.
    force : bool
        Allow replacing an existing file (never an input).
    inputs : iterable of path-like
        Files the command reads; ``path`` must be none of them.
    what : str
        What to call the file in messages (``"--out"``, ``"trace sidecar"``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileExistsError, FileNotFoundError, IsADirectoryError, ValueError
        With a message that names the path and says how to fix it.
    """
    path = Path(path)
    if str(path) == "" or path.name in ("", ".", ".."):
        raise ValueError(f"{what} {str(path)!r} is not a file name")
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise ValueError(f"{what} {path} is also an input of this command; choose another name "
                             "(memtier never writes over what it reads, even with --force)")
    folder = path.parent
    if not folder.exists():
        raise FileNotFoundError(f"{what} {path}: folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise NotADirectoryError(f"{what} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path}: folder {folder} is not writable; choose another place")
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; give a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise FileExistsError(f"{path} exists; choose another name or pass --force (force=True) to overwrite it")
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is still atomic
    finally:
        os.close(descriptor)


def temporary_beside(path, binary: bool = True):
    """A new file under a unique name in ``path``'s folder, created exclusively.

    Returns ``(handle, temporary_name)``; finish with :func:`commit` or :func:`discard`.
    For writers that cannot use :func:`atomic_write` as a ``with`` block.
    """
    path = Path(path)
    names = []
    try:
        descriptor = _create_exclusive(path, names)
    except BaseException:
        if names:
            discard(names[0])
        raise
    return os.fdopen(descriptor, "wb" if binary else "w"), names[0]


def _create_exclusive(path: Path, names: list) -> int:
    """Create a new file under a unique name beside ``path``; return its descriptor.

    The name is put in ``names`` *before* the file is created (``tempfile.mkstemp`` would only
    return it afterwards), so that a Ctrl-C arriving just after the creation still lets the
    caller remove the file; a name that is already taken is never put there.  The file gets the
    mode any new file gets (``0o666`` less the umask, as ``open(path, "w")`` gives it), not
    ``tempfile.mkstemp``'s ``0o600``, which left every result readable by its owner alone."""
    for _ in range(100):
        name = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(6)}.partial")
        names[:] = [name]
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            names.clear()
    raise FileExistsError(f"no unused temporary name beside {path} after 100 tries")


def commit(temporary, path, force: bool = False) -> None:
    """Make the closed temporary file ``path``: fsync, rename, fsync the folder."""
    descriptor = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    _commit(temporary, Path(path), force)
    _fsync_folder(Path(path).parent)


def discard(temporary) -> None:
    """Remove a temporary file (after an error)."""
    with contextlib.suppress(OSError):
        os.unlink(temporary)


def _commit(temporary: str, path: Path, force: bool) -> None:
    if force:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if the name was taken meanwhile: nothing replaced
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while memtier was writing it; not overwritten "
                              "(pass --force to replace it)") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV, errno.EMLINK):
            raise
        # A file system without hard links: check, then rename (a small window remains).
        if path.exists():
            raise FileExistsError(f"{path} appeared while memtier was writing it; not overwritten") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


@contextlib.contextmanager
def atomic_write(path, *, force: bool = False, binary: bool = False, inputs=(), what: str = "output"):
    """Open a unique temporary file beside ``path``; on success it becomes ``path``.

    ``with atomic_write("out.csv", force=args.force) as handle: table.to_csv(handle)``.
    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = check_output(path, force=force, inputs=inputs, what=what)
    names = []
    try:
        descriptor = _create_exclusive(path, names)
        temporary = names[0]
        mode = "wb" if binary else "w"
        with os.fdopen(descriptor, mode, **({} if binary else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _commit(temporary, path, force)
        _fsync_folder(path.parent)
    except BaseException:
        if names:
            discard(names[0])
        raise


def write_text(path, text: str, *, force: bool = False, inputs=(), what: str = "output") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    with atomic_write(path, force=force, inputs=inputs, what=what) as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path, data: bytes, *, force: bool = False, inputs=(), what: str = "output") -> Path:
    """Write ``data`` to ``path`` atomically; see :func:`atomic_write`."""
    with atomic_write(path, force=force, binary=True, inputs=inputs, what=what) as handle:
        handle.write(data)
    return Path(path)


def progress_bar(progress: bool, **options):
    """A tqdm bar on stderr (``tqdm.auto``: a widget in a notebook) when ``progress``, drawn only
    where stderr is a terminal: elsewhere (a file, a pipe) its redraws would fill the file with
    carriage returns (tqdm's ``disable=None``).  ``options`` go to tqdm."""
    from tqdm.auto import tqdm

    return tqdm(disable=None if progress else True, **options)


def save_figure(figure, path, *, force: bool = False, **options) -> Path:
    """``figure.savefig`` to ``path`` atomically (the format from the file's suffix)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    with atomic_write(path, force=force, binary=True) as handle:
        figure.savefig(handle, format=fmt, **options)
    return path
