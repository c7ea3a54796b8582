"""Where the shared folders live: a local disk, or object storage through an fsspec URL.

`--data-dir` is a local path (a `Path`, exactly as before) or a URL such as `s3://bucket/run`
(a `StoredPath`: any fsspec backend in principle; S3 is the one tested). Everything the package
does to games/, gifs/ and checkpoints/ goes through this module: the `Path` methods both kinds
share (`/`, `name`, `glob`, `stat`, `read_bytes`, `unlink`, ...) and the few operations that
differ between them:

- `publish`: a reader never sees part of a file, and without `replace` two writers never replace
  each other's file. Locally a temporary file is fsynced, then linked (or renamed) into place. On
  a store the object goes up in one PUT (never a multipart upload, so none is left dangling by a
  kill), conditional on the name being free (`If-None-Match: *` on S3).
- `open_file`: a local game file is opened only if it is a regular file (O_NOFOLLOW, O_NONBLOCK);
  an object is read in one GET, once the size its listing gave is known to be within bounds.
- `move`: a rename locally; a copy then a delete on a store (repeating either is harmless).
- `locked`: a lock around read-compare-replace (gifs/best/): flock locally; on a store, a lock
  object created with a conditional PUT, taken over once seen unchanged for `LOCK_STALE_S`.

A listing on a store is one request per folder, and each `StoredPath` it returns carries the size
and time the listing gave, so `stat` costs nothing more. Listings are never cached between calls
(other machines write the same folders). Transient errors are retried `RETRIES` times with
backoff, then reported in one line (`StorageError`).
"""

import contextlib
import fnmatch
import io
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TEMP_PREFIX = ".tmp-"
RETRIES = 4
"""Attempts after the first for a request that failed with a transient error (backoff 0.5 s,
doubling)."""
LOCK_STALE_S = 60.0
"""A lock object seen unchanged this long was left by a process that died holding it; the next
writer takes it."""
SINGLE_PUT_BYTES = 5 * 2**30 - 1
"""S3's largest single PUT: every object goes up in one request below it."""


class StorageError(Exception):
    """A store that kept failing after the retries; the message says what and where in a line.

    Not an OSError, so that no reader takes a store's outage for a bad file (and quarantines it).
    """


class StoreRefused(StorageError):
    """The store refused a request (403: credentials, a policy): no retry will change that."""


class StoredPath:
    """A file or folder on an fsspec store, with the `Path` methods the package uses.

    `info` is what a listing said of the file (size, modification time), so that `stat` after
    `glob` makes no request of its own.
    """

    def __init__(self, fs: Any, path: str, info: dict | None = None):
        self.fs = fs
        self.path = path.rstrip("/")
        self._info = info

    @classmethod
    def from_url(cls, url: str) -> "StoredPath":
        import fsspec  # only runs that use a store need it

        fs, path = fsspec.core.url_to_fs(url, **_options(url))
        return cls(fs, path)

    # names
    def __truediv__(self, name: str) -> "StoredPath":
        return StoredPath(self.fs, f"{self.path}/{name}")

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    @property
    def parent(self) -> "StoredPath":
        return StoredPath(self.fs, self.path.rsplit("/", 1)[0])

    def with_name(self, name: str) -> "StoredPath":
        return self.parent / name

    def __str__(self) -> str:
        return self.fs.unstrip_protocol(self.path)

    def __repr__(self) -> str:
        return f"StoredPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredPath) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __lt__(self, other: "StoredPath") -> bool:
        return self.path < other.path

    # listing (one request per folder; nothing cached between calls)
    def iterdir(self) -> Iterator["StoredPath"]:
        entries = _retrying(f"list {self}", lambda: _listing(self.fs, self.path))
        for entry in entries:
            yield StoredPath(self.fs, entry["name"], entry if entry["type"] == "file" else None)

    def glob(self, pattern: str) -> Iterator["StoredPath"]:
        """The files directly in this folder whose names match `pattern` (`*.npz`)."""
        return (p for p in self.iterdir() if p._info and fnmatch.fnmatch(p.name, pattern))

    def stat(self) -> os.stat_result:
        info = self._info or _retrying(f"stat {self}", lambda: _file_info(self.fs, self.path))
        mtime = _mtime(info)
        # mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime
        fields = (stat.S_IFREG | 0o644, 0, 0, 1, 0, 0, int(info.get("size") or 0))
        return os.stat_result((*fields, int(mtime), int(mtime), int(mtime)), {
            "st_mtime": mtime, "st_mtime_ns": int(mtime * 1e9)
        })  # fmt: skip

    def exists(self) -> bool:
        return _retrying(f"check {self}", lambda: self.fs.exists(self.path))

    def is_dir(self) -> bool:
        """A folder holds at least one object (a store has no empty folders)."""
        return _retrying(f"check {self}", lambda: bool(_listing(self.fs, self.path)))

    def is_file(self) -> bool:
        return _retrying(f"check {self}", lambda: self.fs.isfile(self.path))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a store's folders exist once they hold an object."""

    # reading and writing whole objects
    def read_bytes(self, limit: int | None = None) -> bytes:
        """The object's bytes (its first `limit` only, where given: one ranged GET)."""
        span = {} if limit is None else {"start": 0, "end": limit}
        return _retrying(f"read {self}", lambda: self.fs.cat_file(self.path, **span))

    def read_text(self, errors: str = "strict") -> str:
        return self.read_bytes().decode("utf-8", errors=errors)

    def write_bytes(self, data: bytes) -> None:
        publish(self, lambda f: f.write(data), replace=True)

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode())

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            _retrying(f"delete {self}", lambda: self.fs.rm_file(self.path))
        except FileNotFoundError:
            if not missing_ok:
                raise


Location = Path | StoredPath
"""A file or folder of the shared data: on this machine's disk, or on a store."""


def location(text: "str | Location") -> Location:
    """A `--data-dir` value: a URL with a scheme (`s3://...`) is a store, anything else a path."""
    if isinstance(text, Path | StoredPath):
        return text
    if "://" in text and not text.startswith("file://"):
        return StoredPath.from_url(text)
    return Path(text.removeprefix("file://"))


def is_stored(path: Location) -> bool:
    return isinstance(path, StoredPath)


def publish(path: Location, write: Callable[[IO[bytes]], Any], replace: bool = False) -> Location:
    """Write through `write(file)`, then make the whole file visible at `path` at once.

    Locally the temporary name starts with a dot and does not end in the final suffix, so readers
    that glob for `*.npz` or `*.gif` never see it; os.link publishes it, which fails rather than
    replace an existing file, and with `replace` os.replace swaps it in atomically. On a store,
    one PUT; without `replace` it fails (FileExistsError) where the name is taken.
    """
    if isinstance(path, StoredPath):
        buffer = io.BytesIO()
        write(buffer)
        _put(path, buffer.getvalue(), replace)
        return path
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}")
    try:
        with open(temp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def _put(path: StoredPath, data: bytes, replace: bool) -> None:
    if len(data) > SINGLE_PUT_BYTES:
        raise StorageError(f"{path}: {len(data):,} bytes, more than one PUT takes")
    mode = "overwrite" if replace else "create"
    kwargs = {"chunksize": SINGLE_PUT_BYTES} if _is_s3(path.fs) else {}
    attempts = []

    def put() -> None:
        attempts.append(1)
        try:
            path.fs.pipe_file(path.path, data, mode=mode, **kwargs)
        except FileExistsError:
            # A retry of a PUT that went through but whose answer was lost finds its own object
            # (the same bytes); anything else is another writer's.
            if len(attempts) == 1 or path.fs.cat_file(path.path) != data:
                raise

    _retrying(f"write {path}", put)


class NotRegularFile(Exception):
    """A local name that is not a regular file (a link, a FIFO, a folder): never opened."""


class FileTooLarge(Exception):
    """A file larger than the reader takes: nothing of it was read."""

    def __init__(self, size: int):
        super().__init__(f"{size:,} bytes")
        self.size = size


def open_file(path: Location, max_bytes: int | None = None) -> IO[bytes]:
    """`path` opened for reading; a file over `max_bytes` is FileTooLarge before any of it is read.

    A local path is opened only if it is a regular file: O_NOFOLLOW and O_NONBLOCK keep a file
    swapped for a link or a FIFO after the check from being followed or blocking, and the second
    check refuses it (NotRegularFile). An object is read whole in one GET, its size known first.
    """
    if isinstance(path, StoredPath):
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise FileTooLarge(size)
        if size == 0:  # a range of an empty object is an error on S3
            return io.BytesIO(b"")
        data = path.read_bytes(limit=None if max_bytes is None else max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:  # replaced since the listing
            raise FileTooLarge(len(data))
        return io.BytesIO(data)
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(f"{_file_kind(path, mode)}, not a regular file: never opened")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(mode := os.fstat(fd).st_mode):
        f.close()
        raise NotRegularFile(f"{_file_kind(path, mode)}, not a regular file")
    if max_bytes is not None and (size := os.fstat(fd).st_size) > max_bytes:
        f.close()
        raise FileTooLarge(size)
    return f


def _file_kind(path: Path, mode: int) -> str:
    if stat.S_ISLNK(mode):
        try:
            return f"a symbolic link to {os.readlink(path)}"
        except OSError:
            return "a symbolic link"
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((kind for test, kind in kinds if test(mode)), f"file type {stat.S_IFMT(mode):o}")


def lexists(path: Location) -> bool:
    """Whether anything (a link too) is at `path`."""
    return path.exists() if isinstance(path, StoredPath) else os.path.lexists(path)


def move(source: Location, target: Location) -> None:
    """Move a file (locally: a rename, which moves links, FIFOs and folders as they are, opening
    nothing). On a store a copy, then a delete: a repeat of either after a kill is harmless."""
    if isinstance(source, StoredPath):
        _retrying(f"copy {source}", lambda: source.fs.copy(source.path, target.path))
        source.unlink(missing_ok=True)
    else:
        os.rename(source, target)


@contextlib.contextmanager
def locked(folder: Location) -> Iterator[None]:
    """Hold `folder`'s lock while the block runs: one process at a time, on every machine."""
    if isinstance(folder, StoredPath):
        with _object_lock(folder / ".lock"):
            yield
        return
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _object_lock(lock: StoredPath, poll_s: float = 0.2) -> Iterator[None]:
    """A lock object holding a random token, created only where none exists (a conditional PUT).

    A lock whose token this process has seen unchanged for LOCK_STALE_S (by its own clock, so
    machines' clocks need not agree) was left by a holder that died: it is deleted and taken. On
    leaving, the lock is deleted if it still holds this process's token. Without conditional
    deletes the take-over keeps a small race (two waiters that both judge one lock stale); the
    worst it costs is a best GIF replaced by a worse one.
    """
    token = secrets.token_hex(8).encode()
    seen, since = None, time.monotonic()
    while True:
        try:
            _put(lock, token, replace=False)
            break
        except FileExistsError:
            try:
                holder = lock.read_bytes()
            except FileNotFoundError:  # released between the two requests
                continue
            if holder != seen:
                seen, since = holder, time.monotonic()
            elif time.monotonic() - since >= LOCK_STALE_S:
                lock.unlink(missing_ok=True)
                continue
            time.sleep(poll_s)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if lock.read_bytes() == token:
                lock.unlink(missing_ok=True)


def open_ranged(path: Location, block_bytes: int = 1 << 16) -> IO[bytes]:
    """`path` opened for reading in place: on a store, each read fetches only the `block_bytes`
    blocks it needs (ranged GETs), for a reader that wants a small part of a large object (the
    metadata member at the end of a game file). Locally, as `open_file`."""
    if not isinstance(path, StoredPath):
        return open_file(path)
    options = {"block_size": block_bytes, "cache_type": "bytes", "size": path.stat().st_size}
    return _retrying(f"open {path}", lambda: path.fs.open(path.path, "rb", **options))


def readable(path: Location) -> "Path | IO[bytes]":
    """What `torch.load` takes: the path itself, or an object's bytes in memory (one GET)."""
    return io.BytesIO(path.read_bytes()) if isinstance(path, StoredPath) else path


# fsspec details
def _options(url: str) -> dict[str, Any]:
    """Options for the store of `url`: on S3 no listing cache (other machines write the same
    folders) and the endpoint of `AWS_ENDPOINT_URL` (MinIO and the like), where it is set."""
    if not url.startswith(("s3://", "s3a://")):
        return {}
    options: dict[str, Any] = {"use_listings_cache": False}
    if endpoint := os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        options["endpoint_url"] = endpoint
    return options


def _is_s3(fs: Any) -> bool:
    protocol = fs.protocol
    return bool({"s3", "s3a"} & set(protocol if isinstance(protocol, tuple | list) else [protocol]))


def _listing(fs: Any, path: str) -> list[dict]:
    """The entries directly in folder `path` (none where it holds nothing)."""
    try:
        entries = fs.ls(path, detail=True, refresh=True)
    except FileNotFoundError:
        return []
    return [e for e in entries if e["name"].rstrip("/") != path]


def _file_info(fs: Any, path: str) -> dict:
    info = fs.info(path)
    if info.get("type") != "file":
        raise FileNotFoundError(path)
    return info


def _mtime(info: dict) -> float:
    """Seconds since the epoch of a listing entry's modification time (backends name it
    differently: LastModified, mtime, created)."""
    value = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _retrying(what: str, call: Callable[[], Any]) -> Any:
    """`call()`, tried again after transient errors (a connection lost or refused, a timeout, a
    server's 5xx), RETRIES times with backoff, then one line (StorageError). A refusal (403:
    credentials, a policy) is one line at once; "no such object" and "name taken" are answers,
    raised as they are."""
    delay = 0.5
    for attempt in range(RETRIES + 1):
        try:
            return call()
        except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError):
            raise
        except PermissionError as e:
            raise StoreRefused(f"{what} refused: {_line(e)}") from None
        except _transient_errors() as e:
            if attempt == RETRIES:
                raise StorageError(f"{what} failed {RETRIES + 1} times: {_line(e)}") from None
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _transient_errors() -> tuple[type[BaseException], ...]:
    """OSError (s3fs's translation of most failures) and what the S3 client raises untranslated
    when the server cannot be reached (botocore's and aiohttp's errors, asyncio's timeout)."""
    errors: list[type[BaseException]] = [OSError, TimeoutError]
    with contextlib.suppress(ImportError):
        import botocore.exceptions

        errors.append(botocore.exceptions.BotoCoreError)
    with contextlib.suppress(ImportError):
        import aiohttp

        errors.append(aiohttp.ClientError)
    return tuple(errors)


def _line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
