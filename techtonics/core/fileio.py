"""File access for local paths and object stores (gs://, s3://, hdfs://).

Local paths use the standard library, so processes that only touch local
files (the synthetic writer, HDF5 reader workers) do not pay TensorFlow's
import time and memory. Paths with a scheme go through `tf.io.gfile`, which
tensorflow-io extends with s3://, hdfs:// and az:// (the s3 extra).
"""

import contextlib
import fcntl
import functools
import glob as globbing
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import sys
import urllib.parse
import uuid

from techtonics.core.errors import UserError

_REACHED: set[tuple[str, int]] = set()


def is_remote(path: str) -> bool:
    """True for paths with a URL scheme such as gs:// or s3://."""
    return "://" in str(path)


# The schemes that tensorflow-io's file systems bring (gs:// is TensorFlow's own), and the TensorFlow and
# Pythons of the s3 extra that installs it (setup.cfg).
EXTRA_SCHEMES = ("s3", "hdfs", "az")
S3_EXTRA_TENSORFLOW = (2, 17)
S3_EXTRA_PYTHONS = "3.10-3.12"


def _gfile(path: str):
    import tensorflow as tf  # only remote paths need it

    scheme = path.split("://", 1)[0]
    if scheme in EXTRA_SCHEMES and not extra_file_systems():
        raise UserError(f"{path}: {no_file_system(scheme)}")
    load_extra_file_systems()
    if scheme == "s3":
        _check_s3_endpoint(path)
    return tf.io.gfile


@functools.cache  # asked on every remote file operation; the answer cannot change in a process
def extra_file_systems() -> bool:
    """Whether tensorflow-io's file systems (s3://, hdfs://, az://) can load here: the s3 extra's set.

    tensorflow-io 0.37.1, its last release, imports on a later TensorFlow too, but its file systems
    then fail to load (an undefined symbol), so the TensorFlow version decides. Nothing is imported
    but TensorFlow: tensorflow-io, once it has used S3, must end its process early (errors._exit).
    """
    import tensorflow as tf

    version = tuple(int(part) for part in tf.__version__.split(".")[:2])
    return version <= S3_EXTRA_TENSORFLOW and importlib.util.find_spec("tensorflow_io") is not None


def load_extra_file_systems() -> None:
    """Registers tensorflow-io's file systems with TensorFlow where they load; nothing elsewhere."""
    if extra_file_systems():
        import tensorflow_io  # noqa: F401  (registers s3://, hdfs://, az://)


def no_file_system(scheme: str) -> str:
    """Why TensorFlow has no file system for `scheme` here, and what to install or write instead."""
    if scheme in EXTRA_SCHEMES:
        return (
            f"{scheme}:// paths need tensorflow-io's file systems, which load only on TensorFlow "
            f"{'.'.join(map(str, S3_EXTRA_TENSORFLOW))}: pip install 'techtonics[s3]' on Python "
            f"{S3_EXTRA_PYTHONS} (docs/storage.md)"
        )
    return f"{scheme}:// is no file system here; paths are local, gs://, s3://, hdfs:// or az://"


def _check_s3_endpoint(path: str) -> None:
    """One line, within S3_CONNECT_TIMEOUT_MSEC, when the S3 endpoint does not answer.

    tensorflow-io's S3 client retries an unreachable endpoint for about a
    minute and then reports a missing file, which sends users looking in
    the wrong place.
    """
    region = os.environ.get("AWS_REGION", "us-east-1")
    endpoint = os.environ.get("S3_ENDPOINT") or f"s3.{region}.amazonaws.com"
    https = os.environ.get("S3_USE_HTTPS", "1") != "0"
    url = urllib.parse.urlsplit(
        endpoint if "://" in endpoint else f"{'https' if https else 'http'}://{endpoint}"
    )
    address = (url.hostname or "", url.port or (443 if url.scheme == "https" else 80))
    if address in _REACHED:
        return
    seconds = int(os.environ.get("S3_CONNECT_TIMEOUT_MSEC", "5000")) / 1000
    try:
        socket.create_connection(address, timeout=seconds).close()
    except OSError as e:
        raise UserError(
            f"{path}: cannot reach the S3 endpoint {endpoint} within {seconds:g} s ({e.strerror or e}); "
            "check S3_ENDPOINT and the network (S3_CONNECT_TIMEOUT_MSEC sets the wait)"
        ) from None
    _REACHED.add(address)


def join(*parts: str) -> str:
    """Joins path parts with '/' for URLs and os.path.join for local paths."""
    if is_remote(parts[0]):
        return "/".join(p.rstrip("/") for p in parts)
    return os.path.join(*parts)


def exists(path: str) -> bool:
    """Whether a file or directory exists."""
    return _gfile(path).exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    """Whether path is a directory."""
    return _gfile(path).isdir(path) if is_remote(path) else os.path.isdir(path)


def listdir(path: str) -> list[str]:
    """Names of the entries of a directory, sorted."""
    return sorted(_gfile(path).listdir(path) if is_remote(path) else os.listdir(path))


def glob(pattern: str) -> list[str]:
    """The paths that match a glob pattern, sorted."""
    return sorted(_gfile(pattern).glob(pattern) if is_remote(pattern) else globbing.glob(pattern))


def size(path: str) -> int:
    """Size of a file in bytes."""
    return _gfile(path).stat(path).length if is_remote(path) else os.path.getsize(path)


def makedirs(path: str) -> None:
    """Creates a directory and its parents; no error if it exists."""
    if is_remote(path):
        _gfile(path).makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def remove(path: str) -> None:
    """Removes a file if it exists."""
    if is_remote(path):
        if _gfile(path).exists(path):
            _gfile(path).remove(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def rmtree(path: str) -> None:
    """Removes a directory tree if it exists."""
    if is_remote(path):
        if _gfile(path).exists(path):
            _gfile(path).rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def open_file(path: str, mode: str = "rb"):
    """Opens a file for reading or writing; a file object either way."""
    return _gfile(path).GFile(path, mode) if is_remote(path) else open(path, mode)


def rename(src: str, dst: str) -> None:
    """Renames src to dst, replacing dst (atomic on local and POSIX file systems)."""
    if is_remote(src):
        _gfile(src).rename(src, dst, overwrite=True)
    else:
        os.replace(src, dst)


def temporary_path(path: str) -> str:
    """A unique sibling name for writing `path` before renaming it into place."""
    return f"{path}.tmp-{uuid.uuid4().hex[:12]}"


_TEMPORARY = re.compile(r".+\.tmp-[0-9a-f]{12}")  # temporary_path's names


def remove_temporaries(directory: str) -> int:
    """Removes what killed runs left in `directory` under temporary names; returns how many.

    Call it only while holding the directory (directory_lock): another run's
    temporaries are files it is still writing.
    """
    if not exists(directory):
        return 0
    stale = [name for name in listdir(directory) if _TEMPORARY.fullmatch(name)]
    for name in stale:
        path = join(directory, name)
        if isdir(path):  # an export's SavedModel is written as a temporary directory
            rmtree(path)
        else:
            remove(path)
    return len(stale)


@contextlib.contextmanager
def atomic_output(path: str, mode: str = "wb"):
    """Writes through a temporary sibling file and renames it to `path` on success.

    A process killed while writing leaves `path` untouched (at worst a stray
    `*.tmp-*` file), so every reader sees either the old or the new content.
    An OSError that names no file (a full disk met by a write or a flush)
    names `path`, so its one-line message says which output it was.
    """
    tmp = temporary_path(path)
    try:
        with open_file(tmp, mode) as f:
            yield f
        rename(tmp, path)
    except OSError as e:
        e.filename = e.filename or path
        raise
    finally:
        remove(tmp)


def check_writable(directory: str, what: str) -> None:
    """Creates directory and writes a small file into it atomically, before a long run writes `what` there.

    Raises UserError "{directory}: cannot write {what} there ({reason})".
    A local directory does not keep the file. On an object store it stays: a
    directory is a prefix there, and exists (for listdir) only while an
    object is under it. It is not empty: tensorflow-io's S3 takes an empty
    object for a directory and refuses to rename it.
    """
    check = join(directory, ".write-check")
    try:
        makedirs(directory)
        write_atomic(check, "ok\n")
        if not is_remote(directory):
            remove(check)
    # The tuple is built when an exception arrives, so it holds TensorFlow's error if _gfile loaded it.
    except _write_errors() as e:
        reason = str(e).partition("\n")[0]  # an object store's error can run to several lines
        raise UserError(f"{directory}: cannot write {what} there ({reason})") from None


def check_room(directory: str, needed: int, what: str, remedy: str) -> None:
    """Refuses in one line, before anything is written, `what` (about `needed` bytes) that a local
    directory's disk cannot hold; nothing for a bucket, which has no free space to ask."""
    if is_remote(directory):
        return
    makedirs(directory)
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise UserError(
            f"{directory}: {what} need about {_size(needed)}, only {_size(free)} are free; {remedy}"
        )


def _size(count: int) -> str:
    return f"{count / 1e9:,.0f} GB" if count >= 1e10 else f"{count / 2**20:,.1f} MB"


def _write_errors() -> tuple[type[Exception], ...]:
    """OSError locally; also tf.errors.OpError (object stores) once TensorFlow is loaded, not importing it."""
    tf = sys.modules.get("tensorflow")
    return (OSError,) if tf is None else (OSError, tf.errors.OpError)


def sha256(path: str) -> str:
    """The hex sha256 of a file's content, read in blocks."""
    digest = hashlib.sha256()
    with open_file(path, "rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str):
    """A JSON file's content; None when there is no such file."""
    if not exists(path):
        return None
    with open_file(path, "rb") as f:
        return json.loads(f.read())


def write_atomic(path: str, data: str | bytes) -> None:
    """Writes a whole file atomically (see `atomic_output`)."""
    with atomic_output(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def write_figure(figure, out_dir: str, name: str) -> str:
    """Writes a matplotlib Figure as out_dir/name (PNG, atomically); returns its path.

    The figure draws itself (Figure.savefig), so no pyplot backend is chosen here.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    path = join(out_dir, name)
    write_atomic(path, buffer.getvalue())
    return path


LOCK_NAME = ".techtonics.lock"


@contextlib.contextmanager
def directory_lock(directory: str, what: str):
    """Holds `directory` for one run of `what` (e.g. "a conversion"); a second run is refused in one line.

    Local directories: an exclusive `flock` on LOCK_NAME, which the kernel
    releases when the holder ends, killed or not, so a crashed run never
    leaves a lock behind. Object stores (gs://, s3://) have no locks: there
    nothing is held, and two runs on one prefix are the user's to avoid
    (docs/storage.md).
    """
    if is_remote(directory):
        yield
        return
    try:
        makedirs(directory)
        descriptor = os.open(join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UserError(f"{directory}: cannot use it for {what} ({e.strerror or e})") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "another run"
            raise UserError(
                f"{directory}: {holder} is using it; wait for it to end, or give another directory"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{what} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock
