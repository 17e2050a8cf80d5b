"""The original's PNG spectrograms: the image the original drew, read back with labels."""

import numpy as np
import tensorflow as tf

from techtonics.bench import png_baseline
from techtonics.data import stead


def test_render_draws_the_original_image_size_and_its_contrast(tiny_stead):
    pair = stead.find_pairs(str(tiny_stead))[1]  # earthquakes
    name = stead.read_metadata(pair.csv).trace_name[0]
    with stead.WaveformFile(pair.hdf5) as waveforms:
        png = png_baseline.render(waveforms.read(name))
    image = tf.io.decode_png(png, channels=1).numpy()
    assert image.shape == (png_baseline.IMAGE.height, png_baseline.IMAGE.width, 1)
    assert image.min() < 64 and image.max() > 192  # a spectrogram, not a blank figure


def test_rendered_files_read_back_as_labelled_batches(tiny_stead, tmp_path):
    pairs = stead.find_pairs(str(tiny_stead))
    rate, paths, labels = png_baseline.render_rate(pairs, str(tmp_path), traces=20, processes=1)
    assert rate > 0 and len(paths) == 20 and all(p.endswith(".png") for p in paths)
    assert sorted(set(labels)) == [0, 1]  # 10 of each file: noise and earthquakes
    images, batch_labels = next(
        iter(png_baseline.read_dataset(paths, labels, batch_size=20, parallel_reads=2))
    )
    assert (
        images.shape == (20, 100, 150, 1)
        and 0.0 <= float(tf.reduce_min(images)) <= float(tf.reduce_max(images)) <= 1.0
    )
    assert sorted(batch_labels.numpy()) == sorted(labels)  # one epoch: every file once
    assert np.unique(images.numpy().reshape(20, -1), axis=0).shape[0] == 20
