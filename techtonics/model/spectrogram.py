"""The spectrogram image, as a Keras layer that takes raw (6000, 3) waveforms.

The original rendered `matplotlib.pyplot.specgram` of the Z channel to
100 x 150 grayscale PNG files and read them back. This layer computes the
same image with TensorFlow ops: the power spectral density exactly as
`matplotlib.mlab.specgram` defines it (symmetric Hann window, one-sided,
scaled by frequency, no detrending), in dB, clipped to [db_min, db_max],
scaled to [0, 1], highest frequency in the top row as in the rendered image,
and resized to height x width. Inside the model it runs (and XLA-compiles) on
the accelerator, and an exported model needs nothing but waveforms.
"""

from __future__ import annotations

import dataclasses
import functools

import tensorflow as tf
import tf_keras

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import stead


@dataclasses.dataclass(frozen=True)
class SpectrogramConfig:
    """The image's parameters; the defaults are the original's (docs/ORIGINAL.md)."""

    height: int = option(100, "Spectrogram image rows (frequency).", minimum=1, flag="image_height")
    width: int = option(150, "Spectrogram image columns (time).", minimum=1, flag="image_width")
    channels: str = option(
        "Z", "Waveform channels made into image channels: Z or ENZ.", flag="image_channels"
    )
    nfft: int = option(256, "Samples per FFT window.", minimum=2)
    hop: int = option(128, "Samples between FFT windows (nfft - overlap).", minimum=1)
    db_min: float = option(-10.0, "Power (dB) shown as black.")
    db_max: float = option(25.0, "Power (dB) shown as white.")

    def __post_init__(self):
        options.check(self)
        if not self.channels or any(c not in stead.CHANNELS for c in self.channels):
            raise UserError(f"image channels {self.channels!r}: use letters of {''.join(stead.CHANNELS)}")
        if len(set(self.channels)) != len(self.channels):
            raise UserError(f"image channels {self.channels!r}: a channel appears twice")
        if self.nfft > stead.TRACE_SAMPLES:
            raise UserError(f"nfft {self.nfft}: must be between 2 and {stead.TRACE_SAMPLES}")
        if self.hop > self.nfft:
            raise UserError(f"hop {self.hop}: must be between 1 and nfft ({self.nfft})")
        if not self.db_min < self.db_max:
            raise UserError(f"dB range [{self.db_min}, {self.db_max}]: the minimum must be below the maximum")

    @property
    def channel_indices(self) -> list[int]:
        """Columns of the (6000, 3) E/N/Z waveform that become image channels."""
        return [stead.CHANNELS.index(c) for c in self.channels]


# The image a magnitude regressor reads. The original's shows -10 to 25 dB: the noise and an onset's
# contrast, which is what a detector needs. But an S wave's power rises about 22 dB per magnitude unit,
# and in the synthetic STEAD an M 1 event's at 30 km already reaches 25 dB, so the original's image turns
# the amplitude a magnitude is read from into white, and a regressor on it saturated at about M 3. Up to
# 90 dB the image holds the S wave of an M 3.8 event at 30 km (tests/test_spectrogram.py); on the demo's
# data test MSE went from 0.17-0.59 to 0.047-0.069 (docs/POSITION.md, "Magnitude from an unclipped image").
MAGNITUDE_IMAGE = SpectrogramConfig(db_max=90.0)


def power_db(waveforms: tf.Tensor, config: SpectrogramConfig) -> tf.Tensor:
    """(batch, 6000, 3) -> power spectral density in dB, (batch, channel, frame, frequency).

    Equal to 10 log10 of `mlab.specgram(x, NFFT=nfft, Fs=100, noverlap=nfft - hop)`
    (transposed), float32 rounding aside.
    """
    signals = tf.transpose(tf.gather(waveforms, config.channel_indices, axis=-1), [0, 2, 1])
    window = functools.partial(tf.signal.hann_window, periodic=False)  # np.hanning, as mlab uses
    spectrum = tf.signal.stft(signals, config.nfft, config.hop, fft_length=config.nfft, window_fn=window)
    power = tf.math.square(tf.math.abs(spectrum))
    # mlab's PSD: doubled except at DC (and Nyquist when nfft is even), divided by Fs * sum(window^2).
    bins = config.nfft // 2 + 1
    last_single = bins - 1 if config.nfft % 2 == 0 else bins
    doubling = tf.concat([[1.0], tf.fill([last_single - 1], 2.0), tf.ones([bins - last_single])], axis=0)
    window_power = tf.reduce_sum(tf.math.square(window(config.nfft)))
    power = power * doubling / (stead.SAMPLING_RATE_HZ * window_power)
    return 10.0 * tf.math.log(tf.maximum(power, 1e-30)) / tf.math.log(10.0)


def unit_image(db: tf.Tensor, config: SpectrogramConfig) -> tf.Tensor:
    """dB (batch, channel, frame, frequency) -> [0, 1] image (batch, frequency, frame, channel)."""
    scaled = (tf.clip_by_value(db, config.db_min, config.db_max) - config.db_min) / (
        config.db_max - config.db_min
    )
    return tf.reverse(tf.transpose(scaled, [0, 3, 2, 1]), axis=[1])  # highest frequency in the top row


@tf_keras.saving.register_keras_serializable(package="techtonics")
class SpectrogramImage(tf_keras.layers.Layer):
    """Raw waveforms (batch, 6000, 3) -> spectrogram images (batch, height, width, channels) in [0, 1].

    Always computes in float32: raw counts overflow float16, so under a mixed
    precision policy the image is made in float32 and the next layer casts it.
    """

    def __init__(self, config: SpectrogramConfig | None = None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.config = config or SpectrogramConfig()

    def call(self, waveforms):
        image = unit_image(power_db(waveforms, self.config), self.config)
        return tf.image.resize(image, [self.config.height, self.config.width], method="bilinear")

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(
            [input_shape[0], self.config.height, self.config.width, len(self.config.channels)]
        )

    def get_config(self):
        base = super().get_config()
        base.pop("dtype", None)
        return {**base, **dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        fields = {f.name for f in dataclasses.fields(SpectrogramConfig)}
        image = SpectrogramConfig(**{k: config.pop(k) for k in list(config) if k in fields})
        return cls(image, **config)
