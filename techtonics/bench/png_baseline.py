"""The original's input, kept as a benchmark baseline: spectrogram PNG files.

The original drew `matplotlib.pyplot.specgram` of each trace's Z channel
(NFFT 256, 100 Hz, dB from -10 to 25, grayscale) into a 150 x 100 pixel
figure, saved it as a PNG, and read the PNG files back every epoch. This
module does exactly that, so the benchmark can compare it with TECHTONICS's way:
preparation (the converter against rendering the PNGs) and per-epoch input
(the tf.data pipeline against reading the PNGs back).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from techtonics.data import stead
from techtonics.model.spectrogram import SpectrogramConfig

IMAGE = SpectrogramConfig()  # the original's image parameters
_DPI = 100


def render(waveform, image: SpectrogramConfig = IMAGE) -> bytes:
    """The PNG file of one (6000, 3) waveform's Z spectrogram, as the original drew it.

    The original drew through pyplot; a Figure on its own renders the same
    pixels with the same Agg renderer, without choosing a backend for the
    whole process.
    """
    figure = Figure(figsize=(image.width / _DPI, image.height / _DPI), dpi=_DPI)
    axes = figure.add_axes((0, 0, 1, 1))
    with np.errstate(divide="ignore"):  # silent frequencies: -inf dB, drawn black as in the original
        axes.specgram(
            waveform[:, stead.Z],
            NFFT=image.nfft,
            Fs=stead.SAMPLING_RATE_HZ,
            noverlap=image.nfft - image.hop,
            cmap="gray",
            vmin=image.db_min,
            vmax=image.db_max,
        )
    axes.axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def render_files(args: tuple[str, list[str], str]) -> int:
    """Reads traces from one HDF5 file and writes each one's PNG into a directory (a pool task)."""
    hdf5, names, out_dir = args
    with stead.WaveformFile(hdf5) as waveforms:
        for name in names:
            with open(os.path.join(out_dir, f"{name}.png"), "wb") as f:
                f.write(render(waveforms.read(name)))
    return len(names)


def _warm_up(_) -> None:
    render(np.zeros(stead.WAVEFORM_SHAPE, stead.WAVEFORM_DTYPE))  # imports and font cache, paid before timing


def render_rate(
    pairs: list[stead.SteadPair], out_dir: str, traces: int, processes: int
) -> tuple[float, list, list]:
    """(traces/s, paths, labels) of rendering the first `traces` traces of each pair on `processes` CPUs."""
    os.makedirs(out_dir, exist_ok=True)
    per_pair = max(1, traces // len(pairs))
    tasks, paths, labels = [], [], []
    for pair in pairs:
        meta = stead.read_metadata(pair.csv).head(per_pair)
        names = list(meta.trace_name)
        for start in range(0, len(names), 25):
            tasks.append((pair.hdf5, names[start : start + 25], out_dir))
        paths += [os.path.join(out_dir, f"{name}.png") for name in names]
        labels += [stead.CATEGORY_CLASS[c] for c in meta.trace_category]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_warm_up, range(processes), chunksize=1)
        start = time.perf_counter()
        done = sum(pool.map(render_files, tasks, chunksize=1))
        seconds = time.perf_counter() - start
    return done / seconds, paths, labels


def read_dataset(paths: list[str], labels: list[int], batch_size: int, parallel_reads: int, seed: int = 0):
    """Epochs of (image (B, 100, 150, 1) in [0, 1], label) read back from the PNG files, reshuffled."""

    def load(path, label):
        image = tf.io.decode_png(tf.io.read_file(path), channels=1)
        return tf.cast(image, tf.float32) / 255.0, label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels)).shuffle(len(paths), seed=seed).repeat()
    ds = ds.map(load, num_parallel_calls=parallel_reads, deterministic=False)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
