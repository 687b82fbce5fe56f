"""TFRecord files without TensorFlow: the framing TF Serving's warmup file is written in.

Each record is its length (uint64, little-endian), the masked CRC-32C of those 8 bytes, the data,
and the masked CRC-32C of the data (tensorflow/core/lib/io/record_writer.cc). Both checksums are
verified on reading, as TensorFlow's reader does, so a damaged file is an error naming where it
broke, never a record of garbage. CRC-32C is computed from a table: the files are small (warmup
requests) and the ONNX path must not need TensorFlow or a compiled extension for them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

_POLYNOMIAL = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc32c(data: bytes) -> int:
    """The CRC-32C of `data`."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's checksum: the CRC-32C rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class TFRecordError(ValueError):
    """A file that is not whole, valid TFRecord framing (TensorFlow's DATA_LOSS)."""


def read_records(path: Path) -> Iterator[bytes]:
    """Every record of the TFRecord file at `path`, checked, in order."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        header = data[offset : offset + _HEADER.size]
        if len(header) < _HEADER.size:
            raise TFRecordError(f"truncated record header at byte {offset} of {path}")
        length, length_crc = _HEADER.unpack(header)
        if masked_crc(header[:8]) != length_crc:
            raise TFRecordError(f"corrupted record length at byte {offset} of {path}")
        start = offset + _HEADER.size
        end = start + length
        footer = data[end : end + _FOOTER.size]
        if len(footer) < _FOOTER.size:
            raise TFRecordError(f"truncated record at byte {offset} of {path}")
        record = data[start:end]
        if masked_crc(record) != _FOOTER.unpack(footer)[0]:
            raise TFRecordError(f"corrupted record data at byte {offset} of {path}")
        yield record
        offset = end + _FOOTER.size
