"""The TFRecord example schema: one place for the converter and the input pipeline.

One `tf.train.Example` per trace:
- `waveform`: the (6000, 3) E/N/Z samples as little-endian bytes, float32
  (lossless, the default) or int16 with a per-channel float32 scale
  (`waveform_scale`), which is half the size and, unlike float16, survives
  STEAD's raw counts beyond 65504;
- `label`: the class index (stead.CLASS_NAMES);
- every regression target of stead.REGRESSION_TARGETS as a float32, NaN when
  missing (noise has none), and `snr_db` as 3 floats;
- `trace_name`, `source_id`, `network_code`, `receiver_code` as bytes.

Writing needs no TensorFlow: `RecordWriter` encodes each Example in
protobuf's wire format and frames it as TFRecord (length, masked CRC32C,
data, masked CRC32C), hashing the file's bytes as they are written. Converter
processes so start in a fraction of a second and never hold TensorFlow's
memory; tests check the bytes against TensorFlow's own parser. Reading
(`feature_spec`, `parse_batch`) imports TensorFlow when first called.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import struct

import google_crc32c
import numpy as np

from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.data import stead

# 3: each shard holds its traces in a seeded random order (2: file order).
SCHEMA_VERSION = 3
MANIFEST_NAME = "manifest.json"
ENCODINGS = ("float32", "int16")
COMPRESSIONS = ("NONE", "GZIP")
TARGETS = tuple(stead.REGRESSION_TARGETS)
TEXT_FIELDS = ("trace_name", "source_id", "network_code", "receiver_code")
# The metadata columns a record is made of (beside the waveform).
COLUMNS = (*TARGETS, *TEXT_FIELDS, stead.SNR_COLUMN, "trace_category")
_INT16_MAX = 32767.0
_CHANNELS = len(stead.CHANNELS)


def feature_spec() -> dict:
    """The schema as tf.io.parse_example's features: every field, its type and length."""
    import tensorflow as tf  # writers never import TensorFlow

    return {
        "waveform": tf.io.FixedLenFeature([], tf.string),
        "waveform_scale": tf.io.FixedLenFeature([_CHANNELS], tf.float32),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "snr_db": tf.io.FixedLenFeature([_CHANNELS], tf.float32),
        **{name: tf.io.FixedLenFeature([], tf.float32) for name in TARGETS},
        **{name: tf.io.FixedLenFeature([], tf.string) for name in TEXT_FIELDS},
    }


def encode_waveform(waveform: np.ndarray, encoding: str) -> tuple[bytes, np.ndarray, float]:
    """(bytes, per-channel scale, worst error relative to the channel's peak)."""
    if encoding == "float32":
        return waveform.astype("<f4").tobytes(), np.ones(_CHANNELS, np.float32), 0.0
    if encoding != "int16":
        raise UserError(f"unknown waveform encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    peak = np.abs(waveform).max(axis=0).astype(np.float64)
    scale = np.where(peak > 0, peak / _INT16_MAX, 1.0).astype(np.float32)
    quantised = np.round(waveform / scale).astype("<i2")
    error = np.abs(quantised * scale - waveform).max(axis=0)
    relative = float(np.max(np.where(peak > 0, error / np.where(peak > 0, peak, 1.0), 0.0)))
    return quantised.tobytes(), scale, relative


# Protobuf wire format of tensorflow/core/example/{example,feature}.proto: every
# field here is length-delimited (wire type 2); Example.features = 1,
# Features.feature = 1 (a map: entries of key = 1, value = 2), Feature's
# bytes_list = 1, float_list = 2, int64_list = 3, each list's value = 1 (packed).
_BYTES, _FLOATS, _INT64S = 1, 2, 3


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2]) + _varint(len(payload)) + payload


@functools.lru_cache(maxsize=256)
def _entry_header(key: str, kind: int, size: int) -> bytes:
    """The bytes of a Features map entry key -> Feature(kind list) that precede its `size` value bytes.

    Every enclosing length follows from `size`, so an entry is this header
    and the values; cached, a record costs one lookup per feature.
    """
    entry = _field(1, _field(1, key.encode()) + _field(2, _field(kind, b"\0" * size)))
    return entry[: len(entry) - size]


def _entry(key: str, kind: int, values: bytes) -> bytes:
    return _entry_header(key, kind, len(values)) + values


def _text(value) -> bytes:
    return value.encode() if isinstance(value, str) else b""


def example_parts(
    waveform: np.ndarray, meta: dict, encoding: str = "float32"
) -> tuple[tuple[bytes, ...], float]:
    """A serialized Example for one trace, as parts to write in order, and its worst encoding error.

    `meta` maps the COLUMNS to typed values (stead.read_metadata: NaN when
    missing, snr_db as 3 floats); the label comes from `trace_category`.
    The waveform's bytes stay one part, so the 72 kB are never copied to
    join them (each copy cost as much as hashing them).
    """
    data, scale, error = encode_waveform(waveform, encoding)
    label = stead.CATEGORY_CLASS[meta["trace_category"]]
    numbers = np.array([*meta[stead.SNR_COLUMN], *(meta[name] for name in TARGETS)], np.float64)
    numbers[~np.isfinite(numbers)] = np.nan
    packed = numbers.astype("<f4").tobytes()
    entries = [
        _entry("waveform_scale", _FLOATS, _field(1, scale.astype("<f4").tobytes())),
        _entry("label", _INT64S, _field(1, _varint(label))),
        _entry(stead.SNR_COLUMN, _FLOATS, _field(1, packed[: 4 * _CHANNELS])),
    ]
    for i, name in enumerate(TARGETS, start=_CHANNELS):
        entries.append(_entry(name, _FLOATS, _field(1, packed[4 * i : 4 * i + 4])))
    entries += [_entry(name, _BYTES, _field(1, _text(meta[name]))) for name in TEXT_FIELDS]
    rest = b"".join(entries)
    value_head = b"\x0a" + _varint(len(data))  # BytesList.value, then the bytes
    waveform_head = _entry_header("waveform", _BYTES, len(value_head) + len(data)) + value_head
    features_size = len(waveform_head) + len(data) + len(rest)
    return (b"\x0a" + _varint(features_size) + waveform_head, data, rest), error


def _masked_crc(crc: int) -> bytes:
    """TFRecord's checksum: CRC32C rotated right by 15 bits plus a constant."""
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


class _Sha256Writer:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, file):
        self.file, self.sha256 = file, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()


class RecordWriter:
    """Writes framed records to a local or remote path; `sha256` is the file's digest after close.

    GZIP output is one gzip stream with no name and time in its header, so
    equal records give equal bytes, as TensorFlow's GZIP reader expects.
    """

    def __init__(self, path: str, compression: str = "NONE"):
        if compression not in COMPRESSIONS:
            raise UserError(f"unknown compression {compression!r}; use one of {', '.join(COMPRESSIONS)}")
        self._file = fileio.open_file(path, "wb")
        self._hashed = _Sha256Writer(self._file)
        self._out = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._hashed, mtime=0)
            if compression == "GZIP"
            else self._hashed
        )
        self.sha256 = ""

    def write(self, record: bytes | tuple[bytes, ...]) -> None:
        """Appends one record (bytes, or its parts in order): length, its checksum, the data, its checksum."""
        parts = (record,) if isinstance(record, bytes) else record
        crc = 0
        for part in parts:
            crc = google_crc32c.extend(crc, part)
        length = struct.pack("<Q", sum(len(part) for part in parts))
        self._out.write(length + _masked_crc(google_crc32c.value(length)))
        for part in parts:
            self._out.write(part)
        self._out.write(_masked_crc(crc))

    def close(self) -> None:
        """Flushes and closes the file; sets `sha256`."""
        if self._out is not self._hashed:
            self._out.close()
        self._file.close()
        self.sha256 = self._hashed.sha256.hexdigest()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._file.close()


def decode_waveforms(raw, scale, encoding: str):
    """Waveform bytes (batch,) and scales (batch, 3) -> float32 (batch, 6000, 3)."""
    import tensorflow as tf

    dtype = {"float32": tf.float32, "int16": tf.int16}[encoding]
    values = tf.io.decode_raw(raw, dtype, little_endian=True)
    values = tf.reshape(values, [-1, *stead.WAVEFORM_SHAPE])
    if encoding == "float32":
        return values
    return tf.cast(values, tf.float32) * scale[:, tf.newaxis, :]


def parse_batch(serialized, encoding: str = "float32") -> dict:
    """Parses a batch of serialized Examples; `waveform` comes back decoded."""
    import tensorflow as tf

    features = tf.io.parse_example(serialized, feature_spec())
    features["waveform"] = decode_waveforms(features["waveform"], features.pop("waveform_scale"), encoding)
    return features


def compression_type(manifest: dict) -> str:
    """The manifest's shard compression as TFRecordDataset's compression_type: "" or "GZIP"."""
    return "GZIP" if manifest["compression"] == "GZIP" else ""


def shard_name(split: str, index: int, count: int, compression: str) -> str:
    """`{split}-{k:05d}-of-{n:05d}.tfrecord`, with `.gz` when GZIP-compressed."""
    suffix = ".tfrecord.gz" if compression == "GZIP" else ".tfrecord"
    return f"{split}-{index:05d}-of-{count:05d}{suffix}"


def manifest_json(manifest: dict) -> str:
    """The manifest as stable JSON text (sorted keys), so equal runs write equal bytes."""
    return json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n"


def read_manifest(path: str) -> dict:
    """Reads `manifest.json` from a record directory (or the file itself) and checks its schema."""
    if not path.endswith(".json"):
        path = fileio.join(path, MANIFEST_NAME)
    if not fileio.exists(path):
        # tensorflow-io reports a read that S3 refuses (a wrong credential) as a missing object.
        refused = " (or reading it is refused: check the credentials)" if path.startswith("s3://") else ""
        raise UserError(
            f"{path}: no such manifest{refused}: the conversion is incomplete or was never run; "
            "run tools/convert_to_tfrecord.py (the same command resumes)"
        )
    try:
        with fileio.open_file(path, "rb") as f:
            manifest = json.loads(f.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a readable manifest ({e})") from None
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(
            f"{path}: records of schema version {version}, this code reads version {SCHEMA_VERSION}; "
            "convert the data again"
        )
    return manifest
