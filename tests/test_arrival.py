"""A regression of an arrival anywhere in the window (tasks.ArrivalRegression, cnn.build_arrival): where its
columns sit in the waveform, its loss and its answer, and the export reloaded without this package."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import reload_export

from techtonics.core.errors import UserError
from techtonics.data import stead
from techtonics.data.converted import ConvertedDataset
from techtonics.model import cnn, export
from techtonics.model.spectrogram import SpectrogramConfig, SpectrogramImage
from techtonics.training import tasks


@pytest.mark.parametrize("width", [150, 96])
@pytest.mark.parametrize("frame", [5, 23, 42])
def test_each_column_is_centred_where_the_model_sees_it(width, frame):
    # A short burst in silence, centred on an STFT frame: the brightest image column, placed by
    # column_samples' rule (pooled column m is image column 2m + 2.5), is the burst, to a third of a frame.
    image_config = SpectrogramConfig(width=width)
    burst_at = frame * image_config.hop + image_config.nfft // 2
    waveform = np.zeros((1, *stead.WAVEFORM_SHAPE), np.float32)
    t = np.arange(-50, 50)
    waveform[0, burst_at + t, :] = 1000 * np.sin(2 * np.pi * 10 * t / stead.SAMPLING_RATE_HZ)[:, None]
    image = SpectrogramImage(image_config)(waveform).numpy()[0, ..., 0]
    brightest = float(np.argmax(image.mean(axis=0)))
    samples = cnn.column_samples(image_config)
    assert len(samples) == (width - 4) // 2 and np.allclose(np.diff(samples), samples[1] - samples[0])
    pooled_centres = 2 * np.arange(len(samples)) + 2.5  # image columns of the trunk's columns
    assert abs(np.interp(brightest, pooled_centres, samples) - burst_at) <= image_config.hop / 3
    model = cnn.build_arrival(
        cnn.ModelConfig(image_config), filters=2, default_dropout=0.0, width=4, output_name="p", name="m"
    )
    assert model.output_shape == (None, len(samples))  # one answer per column that column_samples places


def test_only_an_arrival_regression_asked_for_it_gets_the_arrival_head(tiny_records):
    converted = ConvertedDataset(str(tiny_records))
    for target in ("p_arrival_sample", "s_arrival_sample"):
        task = tasks.get("regression", target, head="arrival")
        assert isinstance(task, tasks.ArrivalRegression)
        mean, std = task.normalization(converted)  # a label is the arrival in columns of the head
        np.testing.assert_allclose((task.columns - mean) / std, np.arange(len(task.columns)), atol=1e-9)
    task = tasks.get("regression", "p_arrival_sample")  # the task's own head unless asked
    assert type(task) is tasks.Regression
    assert task.normalization(converted) == converted.normalization("p_arrival_sample")
    for name, target, head in (
        ("regression", "source_magnitude", "arrival"),
        ("classification", "", "arrival"),
    ):
        with pytest.raises(UserError, match="--head=arrival: for a regression of p_arrival_sample or"):
            tasks.get(name, target, head=head)
    with pytest.raises(UserError, match="--head=unet: a classification has the dense head"):
        tasks.get("classification", head="unet")
    # An export records its head, so the task it was made by is rebuilt with it.
    assert isinstance(
        tasks.from_info({"task": "regression", "target": "p_arrival_sample", "head": "arrival"}),
        tasks.ArrivalRegression,
    )


def _gaussian(centre, columns=73, sigma=tasks.ARRIVAL_SIGMA_COLUMNS):
    p = np.exp(-0.5 * ((np.arange(columns) - centre) / sigma) ** 2)
    return (p / p.sum()).astype(np.float32)


def test_the_loss_is_least_for_the_labels_own_distribution():
    loss = tasks.ArrivalCrossEntropy()
    label = np.array([[20.3]], np.float32)
    at_label = float(loss(label, _gaussian(20.3)[None]))
    for elsewhere in (_gaussian(22.0), _gaussian(20.3, sigma=3.0), _gaussian(50.0)):
        assert float(loss(label, elsewhere[None])) > at_label
    assert float(loss(label, _gaussian(22.0)[None])) < float(loss(label, _gaussian(50.0)[None]))


def test_the_answer_is_the_peak_in_samples_and_a_far_tail_does_not_pull_it():
    task = tasks.ArrivalRegression("p_arrival_sample")
    mean, std = float(task.columns[0]), float(task.columns[1] - task.columns[0])
    serve = task.serving({"mean": mean, "std": std})
    peaked = _gaussian(30.0)
    with_tail = 0.8 * peaked + 0.2 * _gaussian(65.0, sigma=4.0)  # a second, weaker onset far away
    answers = serve(tf.constant(np.stack([peaked, with_tail])))[task.output_name].numpy()
    np.testing.assert_allclose(answers, task.columns[30], atol=0.05 * std)
    # The logged errors are in columns, from the same answer.
    metric = task.build_metrics()[0]
    metric.update_state(np.array([[31.0], [31.0]], np.float32), np.stack([peaked, with_tail]))
    assert abs(float(metric.result()) - 1.0) < 0.05


def test_the_exported_arrival_model_answers_samples_without_this_package(tmp_path):
    rng = np.random.default_rng(0)
    waveforms = (rng.standard_normal((3, *stead.WAVEFORM_SHAPE)) * 100).astype(np.float32)
    task = tasks.get("regression", "p_arrival_sample", head="arrival")
    model = task.build_model(cnn.ModelConfig())
    assert model.output_shape == (None, len(task.columns))
    probabilities = model(waveforms, training=False).numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    info = task.export_info((float(task.columns[0]), float(task.columns[1] - task.columns[0])))
    export.export_model(model, str(tmp_path / "export"), info, task.serving(info))
    answer = np.array(reload_export(tmp_path / "export", waveforms, tmp_path)["outputs"]["p_arrival_sample"])
    assert answer.shape == (3,) and np.all((answer >= task.columns[0]) & (answer <= task.columns[-1]))
    peak = probabilities.argmax(axis=1)
    assert np.all(
        np.abs(answer - task.columns[peak]) <= tasks.PEAK_COLUMNS * (task.columns[1] - task.columns[0])
    )
