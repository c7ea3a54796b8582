"""Reading a `.npz` archive of plain arrays without trusting what it declares.

A small file can declare gigabytes: deflate shrinks zeros a thousandfold, and a zip entry or a
`.npy` header may state any size. So every size is checked before it costs memory: the zip
directory's entries against the caller's limits, each `.npy` header against its entry, and the
data inflated in chunks to exactly the size its entry declares (one byte more is refused). Object
arrays are refused: the file is data, never code (nothing is ever unpickled).
"""

import io
import math
import struct
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from typing import IO

import numpy as np

NPY_HEADER_BYTES = 10_000  # the longest .npy header read (numpy's own safe limit)
DEFLATE_RATIO = 1032  # deflate's best compression: 258 bytes from one 2-bit code, ~1032:1
READ_CHUNK = 1 << 20
LOCAL_HEADER = struct.Struct("<4s22x2H")  # signature, 22 bytes, name length, extra length
END_RECORD = struct.Struct("<4s8xL6x")  # signature, 8 bytes, directory size, 6 bytes
MAX_DIRECTORY_BYTES = 1 << 16  # a few arrays take a few hundred bytes


class NpzError(Exception):
    """An archive that cannot be read as declared; the message says why in one line."""


class NpzTooLarge(NpzError):
    """A member that declares more bytes than its limit."""


def read_npz(
    f: IO[bytes], names: Sequence[str], max_bytes: Mapping[str, int] | None = None
) -> dict[str, np.ndarray]:
    """The arrays `names` (stored as `<name>.npy`, nothing else) from the open archive `f`.

    Args:
      f: a seekable binary file holding a zip archive.
      names: exactly the members it must hold, each once.
      max_bytes: name -> the most data bytes (past the .npy header) that array may hold;
        None: only what the archive declares bounds it (each entry at most DEFLATE_RATIO times
        its compressed size).
    """
    if not zipfile.is_zipfile(f):
        raise NpzError("not a readable .npz file (not a zip archive)")
    _check_directory_size(f)
    try:
        with zipfile.ZipFile(f) as archive:  # reads the directory only; `f` stays open
            entries = _entries(archive, names)
    except (zipfile.BadZipFile, ValueError, UnicodeDecodeError, struct.error) as e:
        raise NpzError(f"not a readable .npz file (a damaged zip directory: {e})") from None
    limits = {name: None if max_bytes is None else max_bytes[name] for name in names}
    size = f.seek(0, io.SEEK_END)
    for name, entry in entries.items():  # every declared size, before any member is read
        _check_entry(name, entry, size, limits[name])
    return {name: _array(name, _inflate(f, name, e), limits[name]) for name, e in entries.items()}


def _check_directory_size(f: IO[bytes]) -> None:
    """A zip directory small enough to parse at no cost, its end record at the very end.

    numpy writes the end record last, with no comment and no zip64 record, so a file of any
    other layout is none of its; a large directory (thousands of entries) would cost memory.
    """
    f.seek(-END_RECORD.size, io.SEEK_END)
    signature, directory_size = END_RECORD.unpack(f.read(END_RECORD.size))
    if signature != b"PK\x05\x06":
        raise NpzError("not a readable .npz file (its zip end record is not at the end)")
    if directory_size > MAX_DIRECTORY_BYTES:
        raise NpzError(
            f"its zip directory takes {directory_size:,} bytes, more than the "
            f"{MAX_DIRECTORY_BYTES:,} a few arrays need"
        )


def _entries(archive: zipfile.ZipFile, names: Sequence[str]) -> dict[str, zipfile.ZipInfo]:
    """Member name -> its zip entry: exactly `names`, each once, nothing else."""
    stored = [entry.filename for entry in archive.infolist()]
    missing = [name for name in names if f"{name}.npy" not in stored]
    if missing:
        raise NpzError(f"missing arrays: {', '.join(missing)}")
    expected = {f"{name}.npy" for name in names}
    extra = sorted({n for n in stored if n not in expected or stored.count(n) > 1})
    if extra:
        raise NpzError(f"unexpected or repeated members: {', '.join(extra)}")
    return {name: archive.getinfo(f"{name}.npy") for name in names}


def _check_entry(name: str, entry: zipfile.ZipInfo, file_size: int, limit: int | None) -> None:
    """What the zip directory says of a member: plain or deflated, not encrypted, within the
    file, and no larger than `limit` (plus a header) or than its compressed bytes inflate to."""
    if entry.flag_bits & 0x1:
        raise NpzError(f"{name} is encrypted")
    if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise NpzError(f"{name} uses zip compression method {entry.compress_type}, not deflate")
    if entry.header_offset + LOCAL_HEADER.size + entry.compress_size > file_size:
        raise NpzError(f"{name}: its zip entry reaches past the end of the file")
    if limit is not None and entry.file_size > limit + NPY_HEADER_BYTES:
        raise NpzTooLarge(
            f"{name}: its zip entry declares {entry.file_size:,} bytes, more than the "
            f"{limit + NPY_HEADER_BYTES:,} it may hold"
        )
    ratio = 1 if entry.compress_type == zipfile.ZIP_STORED else DEFLATE_RATIO
    if entry.file_size > entry.compress_size * ratio + 1024:
        raise NpzError(
            f"{name}: its zip entry declares {entry.file_size:,} bytes, more than its "
            f"{entry.compress_size:,} stored bytes can hold"
        )


def _inflate(f: IO[bytes], name: str, entry: zipfile.ZipInfo) -> bytearray:
    """A member's bytes: exactly the size its zip entry declares, checked against its CRC.

    Inflating never goes more than one byte past the declared size, so an entry holding more
    than it declares is refused at the cost of its declaration; so is one holding less.
    """
    f.seek(entry.header_offset)
    signature, name_length, extra_length = LOCAL_HEADER.unpack(f.read(LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise NpzError(f"{name}: no zip entry where the directory points")
    f.seek(entry.header_offset + LOCAL_HEADER.size + name_length + extra_length)
    deflated = entry.compress_type == zipfile.ZIP_DEFLATED
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    data = bytearray(entry.file_size)
    view, done, left = memoryview(data), 0, entry.compress_size
    while left > 0 and not (deflated and inflater.eof):
        chunk = f.read(min(left, READ_CHUNK))
        if not chunk:
            raise NpzError(f"{name}: the file ends inside it")
        left -= len(chunk)
        while chunk:  # pieces of at most READ_CHUNK bytes, one past the declared size at most
            most = min(READ_CHUNK, entry.file_size - done + 1)
            piece = _decompress(inflater, chunk, most) if deflated else chunk
            chunk = inflater.unconsumed_tail if deflated else b""
            if done + len(piece) > entry.file_size:
                raise NpzError(
                    f"{name} inflates to more than the {entry.file_size:,} bytes its zip entry "
                    "declares"
                )
            view[done : done + len(piece)] = piece
            done += len(piece)
    if done < entry.file_size or (deflated and not inflater.eof):
        raise NpzError(f"{name} holds {done:,} of the {entry.file_size:,} bytes it declares")
    if deflated and (left > 0 or inflater.unused_data):
        raise NpzError(f"{name}: its zip entry holds more than its deflate stream")
    if zlib.crc32(data) != entry.CRC:
        raise NpzError(f"{name}: CRC check failed, the data is damaged")
    return data


def _decompress(inflater, data: bytes, max_length: int) -> bytes:
    """At most `max_length` bytes inflated from `data` (the rest waits in unconsumed_tail)."""
    try:
        return inflater.decompress(data, max_length)
    except zlib.error as e:
        raise NpzError(f"damaged deflate stream: {e}") from None


def _array(name: str, data: bytearray, limit: int | None) -> np.ndarray:
    """The array a member's .npy bytes hold, its header checked against their size."""
    header = io.BytesIO(data[: NPY_HEADER_BYTES + 10])
    try:
        version = np.lib.format.read_magic(header)
        if version != (1, 0):  # what numpy writes for every array a game holds
            raise NpzError(f"{name}: .npy format version {version}, not (1, 0)")
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(
            header, max_header_size=NPY_HEADER_BYTES
        )
    except (ValueError, RecursionError) as e:  # a header numpy cannot parse
        raise NpzError(f"unreadable array {name}: {e}") from None
    if dtype.hasobject:
        raise NpzError(
            f"unreadable array {name}: Object arrays cannot be loaded when allow_pickle=False"
        )
    if any(n < 0 for n in shape) or dtype.itemsize == 0:
        raise NpzError(f"unreadable array {name}: shape {shape} of {dtype}")
    size = math.prod(shape) * dtype.itemsize
    if limit is not None and size > limit:
        raise NpzTooLarge(
            f"{name}: its .npy header declares {size:,} bytes, more than the {limit:,} it may hold"
        )
    if header.tell() + size != len(data):
        raise NpzError(
            f"{name}: its zip entry declares {len(data):,} bytes, its .npy header "
            f"{header.tell() + size:,}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header.tell())  # no copy, writable
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
