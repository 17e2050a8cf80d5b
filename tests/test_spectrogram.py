"""The spectrogram layer: matplotlib's specgram exactly, the image's range and layout, bad parameters."""

import dataclasses

import matplotlib.mlab as mlab
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from techtonics.data import stead
from techtonics.model.spectrogram import (
    MAGNITUDE_IMAGE,
    SpectrogramConfig,
    SpectrogramImage,
    power_db,
    unit_image,
)
from techtonics.synthetic import generator, seismograms


@pytest.fixture(scope="module")
def waveforms(tiny_stead) -> np.ndarray:
    """Four earthquake and two noise traces of the tiny STEAD, (6, 6000, 3)."""
    traces = []
    for chunk, count in (("chunk2", 4), ("chunk1", 2)):
        meta = stead.read_metadata(str(tiny_stead / f"{chunk}.csv"))
        with stead.WaveformFile(str(tiny_stead / f"{chunk}.hdf5")) as f:
            traces += [f.read(name) for name in meta.trace_name[:count]]
    return np.stack(traces)


@pytest.mark.parametrize(
    "config",
    [
        SpectrogramConfig(),
        SpectrogramConfig(channels="ENZ", nfft=255, hop=100),
        SpectrogramConfig(nfft=128, hop=32),
    ],
    ids=["original", "ENZ-odd-nfft", "short-window"],
)
def test_power_matches_matplotlib_specgram(waveforms, config):
    db = power_db(tf.constant(waveforms), config).numpy()
    for trace in range(len(waveforms)):
        for image_channel, column in enumerate(config.channel_indices):
            expected, _, _ = mlab.specgram(
                waveforms[trace, :, column],
                NFFT=config.nfft,
                Fs=stead.SAMPLING_RATE_HZ,
                noverlap=config.nfft - config.hop,
            )
            # Compared over the image's dB range: far below it (gaps are exact zeros) float32 rounding rules.
            np.testing.assert_allclose(
                np.clip(db[trace, image_channel].T, config.db_min, config.db_max),
                np.clip(10 * np.log10(np.maximum(expected, 1e-30)), config.db_min, config.db_max),
                atol=2e-3,
            )


def test_image_is_the_clipped_scaled_spectrogram_high_frequencies_on_top(waveforms):
    config = SpectrogramConfig()
    db = power_db(tf.constant(waveforms), config).numpy()
    image = unit_image(tf.constant(db), config).numpy()
    expected = (np.clip(db[:, 0], -10, 25) + 10) / 35  # (trace, frame, frequency)
    np.testing.assert_allclose(image[..., 0], expected.transpose(0, 2, 1)[:, ::-1, :], atol=1e-6)


@pytest.mark.parametrize(
    "config", [SpectrogramConfig(), SpectrogramConfig(height=64, width=32, channels="ENZ")]
)
def test_layer_output_shape_and_range(waveforms, config):
    images = SpectrogramImage(config)(waveforms).numpy()
    assert images.shape == (len(waveforms), config.height, config.width, len(config.channels))
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert 0.0 < images.mean() < 1.0  # neither all black nor all white


def test_raw_counts_beyond_float16_stay_finite_under_mixed_precision(waveforms):
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = SpectrogramImage()
        images = layer(waveforms * 1e4)  # counts far beyond float16's 65504
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    assert layer.compute_dtype == "float32" and images.dtype == tf.float32
    assert np.isfinite(images.numpy()).all()


def test_layer_config_round_trips():
    layer = SpectrogramImage(SpectrogramConfig(height=50, channels="NZ", db_max=60.0), name="spectrogram")
    again = SpectrogramImage.from_config(layer.get_config())
    assert again.config == layer.config and again.name == "spectrogram"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"channels": "X"}, "image channels 'X'"),
        ({"channels": "ZZ"}, "appears twice"),
        ({"nfft": 1}, "--nfft=1: must be at least 2"),
        ({"nfft": 7000}, "nfft 7000"),
        ({"hop": 300}, "hop 300"),
        ({"height": 0}, "--image_height=0: must be at least 1"),
        ({"db_min": 30.0}, "dB range"),
    ],
)
def test_bad_parameters_name_what_is_wrong(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SpectrogramConfig(), **change)


def test_the_magnitude_image_holds_the_amplitude_the_original_image_clips():
    # Issue 20: a magnitude regressor on the original's image saturated at about M 3, since an S wave's
    # power passes its 25 dB top from about M 1 up. The synthetic STEAD's S wave at 30 km, by magnitude:
    def peak_db(magnitude):
        hypocentral = np.hypot(30.0, 10.0)
        signal, _, _ = seismograms.event_signal(
            np.random.default_rng(0),
            magnitude,
            hypocentral,
            45.0,
            600,
            generator.s_peak_counts(magnitude, hypocentral),
            8.0,
        )
        return float(power_db(tf.constant(signal[np.newaxis], tf.float32), SpectrogramConfig()).numpy().max())

    peaks = [peak_db(m) for m in (0.5, 1.5, 2.5, 3.5)]
    assert np.all(np.diff(peaks) > 15)  # about 20 dB a magnitude unit: the amplitude tells the magnitude
    assert peaks[1] > SpectrogramConfig().db_max  # the original's image is white from M 1.5 on
    assert peaks[0] > MAGNITUDE_IMAGE.db_min and peaks[-1] < MAGNITUDE_IMAGE.db_max  # M 0.5-3.5 all shown
