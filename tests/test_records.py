"""The record schema: hand-encoded Examples and TFRecord framing, checked against TensorFlow's own."""

import hashlib

import numpy as np
import pytest
import tensorflow as tf

from techtonics.data import records, stead


def _example(waveform: np.ndarray, meta: dict, encoding: str = "float32") -> tuple[bytes, float]:
    """A serialized Example for one trace, as the converter's writer frames it, and its worst error."""
    parts, error = records.example_parts(waveform, meta, encoding)
    return b"".join(parts), error


def _meta(**changes) -> dict:
    meta = {name: float(i) + 0.5 for i, name in enumerate(records.TARGETS)}
    meta.update(
        trace_category=stead.EARTHQUAKE_CATEGORY,
        snr_db=np.array([12.5, np.nan, np.inf]),
        trace_name="B921.PB_20110101000000_EV",
        source_id=None,
        network_code="PB",
        receiver_code="B921",
    )
    meta.update(changes)
    return meta


def _reference(waveform: np.ndarray, meta: dict) -> tf.train.Example:
    """The same record built with TensorFlow's protobuf classes."""
    example = tf.train.Example()
    feature = example.features.feature
    feature["waveform"].bytes_list.value.append(waveform.astype("<f4").tobytes())
    feature["waveform_scale"].float_list.value.extend([1.0, 1.0, 1.0])
    feature["label"].int64_list.value.append(stead.CATEGORY_CLASS[meta["trace_category"]])
    feature["snr_db"].float_list.value.extend([12.5, np.nan, np.nan])
    for name in records.TARGETS:
        feature[name].float_list.value.append(meta[name] if np.isfinite(meta[name]) else np.nan)
    for name in records.TEXT_FIELDS:
        feature[name].bytes_list.value.append(meta[name].encode() if isinstance(meta[name], str) else b"")
    return example


@pytest.mark.parametrize("category", [stead.EARTHQUAKE_CATEGORY, stead.NOISE_CATEGORY])
def test_hand_encoded_example_equals_tensorflows(category):
    waveform = np.random.default_rng(0).normal(size=stead.WAVEFORM_SHAPE).astype(np.float32) * 1e6
    meta = _meta(trace_category=category, source_magnitude=np.nan, back_azimuth_deg=-np.inf)
    serialized, error = _example(waveform, meta)
    parsed, reference = tf.train.Example.FromString(serialized), _reference(waveform, meta)
    # Protobuf's text form prints NaN alike, so equal text means equal fields and values.
    assert str(parsed) == str(reference) and error == 0.0
    assert b"".join(records.example_parts(waveform, meta)[0]) == serialized


@pytest.mark.parametrize("compression", records.COMPRESSIONS)
@pytest.mark.parametrize("encoding", records.ENCODINGS)
def test_writer_output_reads_back_through_tensorflow(tmp_path, compression, encoding):
    rng = np.random.default_rng(1)
    waveforms = rng.normal(size=(5, *stead.WAVEFORM_SHAPE)).astype(np.float32) * 1e5
    path = str(tmp_path / "shard.tfrecord")
    with records.RecordWriter(path, compression) as writer:
        for i, waveform in enumerate(waveforms):
            writer.write(records.example_parts(waveform, _meta(trace_name=f"T{i}"), encoding)[0])
    assert writer.sha256 == hashlib.sha256(open(path, "rb").read()).hexdigest()
    compression_type = "" if compression == "NONE" else compression
    batch = next(iter(tf.data.TFRecordDataset(path, compression_type=compression_type).batch(10)))
    parsed = records.parse_batch(batch, encoding)  # TensorFlow checks every record's CRC32C
    assert [name.decode() for name in parsed["trace_name"].numpy()] == [f"T{i}" for i in range(5)]
    tolerance = 0 if encoding == "float32" else np.abs(waveforms).max() / 32767
    np.testing.assert_allclose(parsed["waveform"].numpy(), waveforms, rtol=0, atol=tolerance)
    assert np.isnan(parsed["snr_db"].numpy()[:, 1:]).all() and (parsed["label"].numpy() == 1).all()


def test_a_flipped_byte_fails_the_checksum(tmp_path):
    path = tmp_path / "shard.tfrecord"
    with records.RecordWriter(str(path)) as writer:
        writer.write(_example(np.ones(stead.WAVEFORM_SHAPE, np.float32), _meta())[0])
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.DataLossError, match="corrupted record"):
        list(tf.data.TFRecordDataset(str(path)))
