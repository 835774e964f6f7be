"""Every block of a DuckDB file that the database uses: present, and with a valid checksum.

DuckDB verifies a block's checksum when it reads the block, and reads a block only when a
query needs it, so a damaged file opens and fails later (a damaged index block fails the
first battle's commit). This module reads DuckDB's file format just far enough to check
all the blocks at once, as SQLite's `integrity_check` would: the two database headers
(the newer one is in force), the free list it points to, and then each block not on
that list. Nothing is written.

The format (DuckDB 1.x and 2.x, unencrypted): three 4 KiB headers, then blocks of
`block_alloc_size` bytes, each an 8-byte checksum followed by its data. The checksum is
5381 XOR, over the data's little-endian 64-bit words, of `word * 0xbf58476d1ce4e5b9`.
The free list is a metadata stream: metadata blocks are cut into 64 sub-blocks, each
starting with the pointer to the next (`block_id | index << 56`, -1 at the end).
`FileLayoutUnknown` says the file does not look like that (a DuckDB upgrade that changed
the format, an encrypted file): callers then skip this check, and the test suite, run on
the pinned DuckDB, fails, so the change does not go unnoticed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

HEADER_SIZE = 4096
FIRST_BLOCK = 3 * HEADER_SIZE
CHECKSUM_SIZE = 8
METADATA_SUB_BLOCKS = 64
INVALID = 2**64 - 1
_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)
_ENCRYPTED_FLAG = 1  # the main header's first flag word


class FileLayoutUnknown(Exception):
    """The file is not laid out as this module expects; its blocks were not checked."""


@dataclass(frozen=True)
class BlockDamage:
    """What is wrong with a file: for the operator's message."""

    what: str


@dataclass(frozen=True)
class Layout:
    block_size: int  # with its checksum
    block_count: int  # block ids below this exist, unless free
    free: frozenset[int]

    def used(self) -> list[int]:
        return [b for b in range(self.block_count) if b not in self.free]


def checksum(data: bytes | memoryview) -> int:
    """DuckDB's checksum of a block's (or a header's) data; its length is a multiple of 8."""
    words = np.frombuffer(data, dtype="<u8")
    with np.errstate(over="ignore"):  # the multiplication is meant to wrap
        return int(np.bitwise_xor.reduce(words * _MULTIPLIER)) ^ 5381


def _read_at(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise EOFError(offset)
    return data


def read_layout(f: BinaryIO) -> Layout:
    """The block size, block count and free blocks of the header in force."""
    main = _read_at(f, 0, HEADER_SIZE)
    if main[CHECKSUM_SIZE : CHECKSUM_SIZE + 4] != b"DUCK":
        raise FileLayoutUnknown("no DUCK magic bytes")
    (flags,) = struct.unpack_from("<Q", main, CHECKSUM_SIZE + 4 + 8)
    if flags & _ENCRYPTED_FLAG:
        raise FileLayoutUnknown("an encrypted database")
    headers = []
    for offset in (HEADER_SIZE, 2 * HEADER_SIZE):
        raw = _read_at(f, offset, HEADER_SIZE)
        if struct.unpack_from("<Q", raw)[0] != checksum(raw[CHECKSUM_SIZE:]):
            continue  # DuckDB ignores a torn header too, and uses the other one
        headers.append(struct.unpack_from("<5Q", raw, CHECKSUM_SIZE))
    if not headers:
        raise FileLayoutUnknown("no database header with a valid checksum")
    _iteration, _meta, free_list, block_count, block_size = max(headers)
    if block_size < 4096 or block_size % 4096:
        raise FileLayoutUnknown(f"block size {block_size}")
    free = _read_free_list(f, free_list, block_size) if free_list != INVALID else []
    return Layout(block_size, block_count, frozenset(free))


def _read_free_list(f: BinaryIO, pointer: int, block_size: int) -> list[int]:
    sub_block = ((block_size - CHECKSUM_SIZE) // METADATA_SUB_BLOCKS) // 8 * 8
    stream = _MetadataStream(f, pointer, block_size, sub_block)
    (count,) = struct.unpack("<Q", stream.read(8))
    if count > 2**32:
        raise FileLayoutUnknown(f"a free list of {count} blocks")
    return list(struct.unpack(f"<{count}q", stream.read(8 * count)))


class _MetadataStream:
    """Reads a chain of metadata sub-blocks as one byte stream."""

    def __init__(self, f: BinaryIO, pointer: int, block_size: int, sub_block: int) -> None:
        self._f, self._block_size, self._sub_block = f, block_size, sub_block
        self._data = b""
        self._pos = 0
        self._next = pointer
        self._seen: set[int] = set()

    def _load(self) -> None:
        if self._next == INVALID or self._next in self._seen:
            raise FileLayoutUnknown("the free list ends early or loops")
        self._seen.add(self._next)
        block, index = self._next & ((1 << 56) - 1), self._next >> 56
        if index >= METADATA_SUB_BLOCKS:
            raise FileLayoutUnknown(f"metadata pointer {self._next:#x}")
        start = FIRST_BLOCK + block * self._block_size + CHECKSUM_SIZE + index * self._sub_block
        self._data = _read_at(self._f, start, self._sub_block)
        (self._next,) = struct.unpack_from("<Q", self._data)
        self._pos = 8

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            if self._pos >= len(self._data):
                self._load()
            take = min(size - len(out), len(self._data) - self._pos)
            out += self._data[self._pos : self._pos + take]
            self._pos += take
        return bytes(out)


def find_damage(path: Path, *, expected_free: int | None = None) -> BlockDamage | None:
    """None if every block in use is there and checks out, else what is wrong.

    `expected_free` is DuckDB's own count of free blocks (`pragma_database_size`): a free
    list of another length means this reading of the format is wrong. Raises
    `FileLayoutUnknown` when the file cannot be read this way.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        try:
            layout = read_layout(f)
        except EOFError as exc:
            raise FileLayoutUnknown(f"headers or free list past the end ({exc})") from exc
        if expected_free is not None and len(layout.free) != expected_free:
            raise FileLayoutUnknown(
                f"{len(layout.free)} free blocks read, DuckDB counts {expected_free}"
            )
        used = layout.used()
        if not used:
            return None
        need = FIRST_BLOCK + (used[-1] + 1) * layout.block_size
        if size < need:
            return BlockDamage(
                f"it is {size:,} bytes long, but its block {used[-1]} ends at byte {need:,}, "
                "so it was cut short (an interrupted copy or a full disk)"
            )
        for block in used:
            offset = FIRST_BLOCK + block * layout.block_size
            raw = _read_at(f, offset, layout.block_size)
            if struct.unpack_from("<Q", raw)[0] != checksum(memoryview(raw)[CHECKSUM_SIZE:]):
                return BlockDamage(
                    f"block {block} (bytes {offset:,} to {offset + layout.block_size:,}) "
                    "does not match its checksum"
                )
    return None
