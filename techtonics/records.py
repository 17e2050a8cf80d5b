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
"""

from __future__ import annotations

import json
import math

import numpy as np
import tensorflow as tf

from techtonics import fileio, stead

# 2: the manifest counts, per split, the earthquakes with each regression target.
SCHEMA_VERSION = 2
MANIFEST_NAME = "manifest.json"
ENCODINGS = ("float32", "int16")
TARGETS = tuple(stead.REGRESSION_TARGETS)
TEXT_FIELDS = ("trace_name", "source_id", "network_code", "receiver_code")
_INT16_MAX = 32767.0

FEATURES = {
    "waveform": tf.io.FixedLenFeature([], tf.string),
    "waveform_scale": tf.io.FixedLenFeature([len(stead.CHANNELS)], tf.float32),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "snr_db": tf.io.FixedLenFeature([len(stead.CHANNELS)], tf.float32),
    **{name: tf.io.FixedLenFeature([], tf.float32) for name in TARGETS},
    **{name: tf.io.FixedLenFeature([], tf.string) for name in TEXT_FIELDS},
}


def encode_waveform(waveform: np.ndarray, encoding: str) -> tuple[bytes, np.ndarray, float]:
    """(bytes, per-channel scale, worst error relative to the channel's peak)."""
    if encoding == "float32":
        return waveform.astype("<f4").tobytes(), np.ones(3, np.float32), 0.0
    if encoding != "int16":
        raise ValueError(f"unknown waveform encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    peak = np.abs(waveform).max(axis=0).astype(np.float64)
    scale = np.where(peak > 0, peak / _INT16_MAX, 1.0).astype(np.float32)
    quantised = np.round(waveform / scale).astype("<i2")
    error = np.abs(quantised * scale - waveform).max(axis=0)
    relative = float(np.max(np.where(peak > 0, error / np.where(peak > 0, peak, 1.0), 0.0)))
    return quantised.tobytes(), scale, relative


def _float(value) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.nan


def make_example(waveform: np.ndarray, meta: dict, encoding: str = "float32") -> tuple[bytes, float]:
    """A serialized Example for one trace and its worst encoding error.

    `meta` maps STEAD column names to typed values (stead.read_metadata);
    the label comes from `trace_category`.
    """
    data, scale, error = encode_waveform(waveform, encoding)
    example = tf.train.Example()
    feature = example.features.feature
    feature["waveform"].bytes_list.value.append(data)
    feature["waveform_scale"].float_list.value.extend(scale.tolist())
    feature["label"].int64_list.value.append(stead.CATEGORY_CLASS[meta["trace_category"]])
    feature["snr_db"].float_list.value.extend([_float(v) for v in meta[stead.SNR_COLUMN]])
    for name in TARGETS:
        feature[name].float_list.value.append(_float(meta[name]))
    for name in TEXT_FIELDS:
        feature[name].bytes_list.value.append(meta[name].encode() if isinstance(meta[name], str) else b"")
    return example.SerializeToString(), error


def decode_waveforms(raw: tf.Tensor, scale: tf.Tensor, encoding: str) -> tf.Tensor:
    """Waveform bytes (batch,) and scales (batch, 3) -> float32 (batch, 6000, 3)."""
    dtype = {"float32": tf.float32, "int16": tf.int16}[encoding]
    values = tf.io.decode_raw(raw, dtype, little_endian=True)
    values = tf.reshape(values, [-1, *stead.WAVEFORM_SHAPE])
    if encoding == "float32":
        return values
    return tf.cast(values, tf.float32) * scale[:, tf.newaxis, :]


def parse_batch(serialized: tf.Tensor, encoding: str = "float32") -> dict[str, tf.Tensor]:
    """Parses a batch of serialized Examples; `waveform` comes back decoded."""
    features = tf.io.parse_example(serialized, FEATURES)
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
        raise ValueError(f"{path}: no such manifest; run tools/convert_to_tfrecord.py first")
    try:
        with fileio.open_file(path, "rb") as f:
            manifest = json.loads(f.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable manifest ({e})") from None
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: records of schema version {version}, this code reads version {SCHEMA_VERSION}; "
            "convert the data again"
        )
    return manifest
