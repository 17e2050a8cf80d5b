"""The models as their tasks build them: the original's two CNNs' layers, the picker's U-Net, output
properties, and the export reloaded without this package."""

import json

import numpy as np
import pytest
import tf_keras
from conftest import reload_export

from techtonics.data import stead
from techtonics.model import cnn, export
from techtonics.model.spectrogram import SpectrogramConfig
from techtonics.training import tasks

# docs/ORIGINAL.md, after the spectrogram layer; its Dropout is StepDropout, Keras's with draws a resumed run
# repeats (model/dropout.py).
LAYERS = {
    "classification": ["Conv2D", "MaxPooling2D", "StepDropout", "Flatten", "Dense", "Dense", "Dense"],
    "regression": ["Conv2D", "MaxPooling2D", "StepDropout", "Flatten", "Dense", "Dense"],
}


@pytest.fixture(scope="module")
def waveforms() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((5, *stead.WAVEFORM_SHAPE)) * rng.uniform(1, 300, (5, 1, 3))).astype(
        np.float32
    )


@pytest.mark.parametrize("task", list(LAYERS))
def test_layers_are_the_originals(task):
    model = tasks.get(task).build_model(cnn.ModelConfig())
    kinds = [type(layer).__name__ for layer in model.layers[2:]]
    assert kinds == LAYERS[task]
    conv, dropout = model.get_layer("conv"), model.get_layer("dropout")
    assert conv.filters == {"classification": 32, "regression": 64}[task] and conv.kernel_size == (5, 5)
    assert dropout.rate == {"classification": 0.25, "regression": 0.5}[task]
    dense_units = [layer.units for layer in model.layers if isinstance(layer, tf_keras.layers.Dense)]
    assert dense_units == {"classification": [64, 16, 2], "regression": [16, 1]}[task]


def test_classifier_outputs_probabilities(waveforms):
    probabilities = tasks.get("classification").build_model(cnn.ModelConfig())(waveforms).numpy()
    assert probabilities.shape == (len(waveforms), len(stead.CLASS_NAMES))
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_picker_gives_phase_probabilities_at_every_sample_whatever_the_amplitude(waveforms):
    model = tasks.get("picking").build_model(cnn.ModelConfig())
    probabilities = model(waveforms, training=False).numpy()
    assert probabilities.shape == (len(waveforms), stead.TRACE_SAMPLES, 3) and (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    # Demeaned and scaled by the peak first: a gain or an offset in counts changes nothing.
    scaled = model(waveforms * 1000.0 + 50.0, training=False).numpy()
    np.testing.assert_allclose(scaled, probabilities, atol=1e-4)


def test_image_size_and_channels_change_the_model(waveforms):
    config = cnn.ModelConfig(SpectrogramConfig(height=40, width=60, channels="ENZ"), dropout=0.1)
    model = tasks.get("regression").build_model(config)
    assert model.get_layer("conv").input_shape == (None, 40, 60, 3)
    assert model.get_layer("dropout").rate == 0.1
    assert model(waveforms).shape == (len(waveforms), 1)


def test_bad_model_config():
    with pytest.raises(ValueError, match="--dropout=1.0: must be in"):
        cnn.ModelConfig(dropout=1.0)


@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_export_reloaded_in_a_fresh_process_gives_the_same_outputs(task, waveforms, tmp_path):
    problem = tasks.get(task, "source_distance_km")
    model = problem.build_model(cnn.ModelConfig())
    info = problem.export_info((60.0, 25.0))
    exported = export.export_model(model, str(tmp_path / "export"), info, problem.serving(info))
    reloaded = reload_export(tmp_path / "export", waveforms, tmp_path)
    in_process = model(waveforms, training=False).numpy()
    if task == "classification":
        np.testing.assert_allclose(reloaded["outputs"]["probabilities"], in_process, atol=1e-6)
    elif task == "picking":  # per-sample probabilities, and each window's detection and picks from them
        np.testing.assert_allclose(reloaded["outputs"]["phase_probabilities"], in_process, atol=1e-5)
        picks = np.array(reloaded["outputs"]["picks"])
        np.testing.assert_allclose(picks[:, 0], (1 - in_process[..., 2]).max(axis=1), atol=1e-5)
        assert picks[:, 1].tolist() == in_process[..., 0].argmax(axis=1).tolist()
        assert picks[:, 3].tolist() == in_process[..., 1].argmax(axis=1).tolist()
    else:  # in the target's units: normalisation undone
        np.testing.assert_allclose(
            reloaded["outputs"]["source_distance_km"], in_process[:, 0] * 25 + 60, atol=1e-4
        )
    # The original's image is a signature of its own; the picker has none.
    assert reloaded["image_shape"] == (None if task == "picking" else [len(waveforms), 100, 150, 1])
    exported_info = json.loads((tmp_path / "export" / export.EXPORT_INFO).read_text())
    assert exported_info["task"] == task
    # The returned model, served in memory (as the trainer evaluates it), answers as the reloaded one.
    in_memory = {k: v.numpy().tolist() for k, v in exported.serve(waveforms).items()}
    for name, values in reloaded["outputs"].items():
        np.testing.assert_allclose(in_memory[name], values, atol=1e-5)
    assert not list(tmp_path.glob("export.tmp-*"))  # written under a temporary name, then renamed
