"""TFRecord files without TensorFlow: the framing TF Serving's warmup file is written in, read for
warmup and written by the payload log (`zoo serve --log-requests`), whose files are warmup files.

Each record is its length (uint64, little-endian), the masked CRC-32C of those 8 bytes, the data,
and the masked CRC-32C of the data (tensorflow/core/lib/io/record_writer.cc). Both checksums are
verified on reading, as TensorFlow's reader does, so a damaged file is an error naming where it
broke, never a record of garbage. CRC-32C is google-crc32c's (its C library, 0.25 µs for 3 KB;
a pure-Python table took 540 µs, too slow to log requests as they are served).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from google_crc32c import value as crc32c

_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER = struct.Struct("<QI")


def masked_crc(data: bytes) -> int:
    """TFRecord's checksum: the CRC-32C rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    """`record` framed as one TFRecord: what a writer appends to its file, in one write."""
    length = _LENGTH.pack(len(record))
    return b"".join((length, _CRC.pack(masked_crc(length)), record, _CRC.pack(masked_crc(record))))


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
        footer = data[end : end + _CRC.size]
        if len(footer) < _CRC.size:
            raise TFRecordError(f"truncated record at byte {offset} of {path}")
        record = data[start:end]
        if masked_crc(record) != _CRC.unpack(footer)[0]:
            raise TFRecordError(f"corrupted record data at byte {offset} of {path}")
        yield record
        offset = end + _CRC.size
