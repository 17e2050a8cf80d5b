"""Detections in the field's formats: QuakeML and PhaseNet-style picks read back equal detections.csv."""

import numpy as np
import obspy
import pandas as pd
import pytest
from obspy.io.quakeml.core import _validate

from techtonics.core import options
from techtonics.data import stead
from techtonics.prediction import inputs, predictor
from techtonics.synthetic import stream
from techtonics.testing.exports import export_untrained
from techtonics.training import tasks

# Untrained models: the classifier's probabilities scatter around 0.5, so a threshold just above it
# makes several separate detections in 20 minutes.
THRESHOLD = 0.51
MODELS = {  # name: (task, target, seed)
    "classification": ("classification", "source_magnitude", 1),
    "magnitude": ("regression", "source_magnitude", 2),
    "p_arrival": ("regression", "p_arrival_sample", 3),
    "s_arrival": ("regression", "s_arrival_sample", 4),
    "distance": ("regression", "source_distance_km", 5),
    "picking": ("picking", "source_magnitude", 6),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("catalog_models")
    return {
        name: export_untrained(str(root / name / "export"), task, seed, "ENZ", target)
        for name, (task, target, seed) in MODELS.items()
    }


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("catalog_stream") / "stream.mseed"
    return stream.write_stream(
        str(path), 1200.0, [stream.Event(300.0, 3.0), stream.Event(800.0, 3.5)], seed=3
    )


def _predict(models, names, recording, output, threshold) -> dict:
    config = options.build(
        predictor.PredictConfig,
        {"progress": False, "threshold": str(threshold)},
        models=tuple(models[n] for n in names),
        output_dir=str(output),
    )
    return predictor.predict(config, inputs.waveforms_source([recording], 10.0, False))


def _time(text: str) -> float:
    return obspy.UTCDateTime(text).timestamp


def test_quakeml_and_picks_read_back_equal_detections_csv(models, recording, tmp_path):
    summary = _predict(models, [n for n in MODELS if n != "picking"], recording, tmp_path, THRESHOLD)
    assert summary["detections_xml"] == str(tmp_path / "detections.xml")
    assert summary["picks_csv"] == str(tmp_path / "picks.csv")
    detections = pd.read_csv(tmp_path / "detections.csv", keep_default_na=False, float_precision="round_trip")
    catalog = obspy.read_events(str(tmp_path / "detections.xml"))
    picks = pd.read_csv(tmp_path / "picks.csv", keep_default_na=False)
    assert _validate(str(tmp_path / "detections.xml"))  # QuakeML 1.2's schema
    assert len(detections) >= 3 and len(catalog) == len(detections) == summary["detections"]
    noted = dict(c.text.split("=", 1) for c in catalog.comments)
    assert noted == {"detector": "classification.p_earthquake", "threshold": repr(THRESHOLD)}
    # picks.csv: PhaseNet's columns; each detection's P, then its S.
    assert list(picks.columns) == ["station_id", "phase_time", "phase_score", "phase_type"]
    assert len(picks) == 2 * len(detections)
    for i, (row, event) in enumerate(zip(detections.to_dict("records"), catalog)):
        fields = dict(c.text.split("=", 1) for c in event.comments)
        assert fields["station"] == row["station"] and int(fields["windows"]) == row["windows"]
        for name in ("start", "end", "peak_window_start"):  # detections.csv rounds to the hundredth
            assert _time(fields[name]) == pytest.approx(_time(row[name]), abs=0.005)
        assert float(fields["peak_probability"]) == row["peak_probability"] >= THRESHOLD
        assert float(fields["distance.source_distance_km"]) == row["distance.source_distance_km"]
        assert event.event_type == "earthquake" and event.event_type_certainty == "suspected"
        assert [m.mag for m in event.magnitudes] == [row["magnitude.source_magnitude"]]
        assert event.preferred_magnitude().magnitude_type == "M"
        network, code, location, band = row["station"].split(".")
        assert [p.phase_hint for p in event.picks] == ["P", "S"]
        for k, (pick, column) in enumerate(
            zip(event.picks, ("p_arrival.p_arrival_time", "s_arrival.s_arrival_time"))
        ):
            assert pick.time.timestamp == pytest.approx(_time(row[column]), abs=0.005)
            assert pick.waveform_id.get_seed_string() == f"{network}.{code}.{location}.{band}Z"
            listed = picks.iloc[2 * i + k]
            assert listed["station_id"] == row["station"] and listed["phase_type"] == pick.phase_hint
            assert _time(listed["phase_time"]) == pytest.approx(pick.time.timestamp, abs=0.0005)
            assert listed["phase_score"] == pytest.approx(row["peak_probability"], rel=1e-5)


def test_a_pickers_picks_are_scored_with_their_own_probability(models, recording, tmp_path):
    summary = _predict(models, ["classification", "picking"], recording, tmp_path, THRESHOLD)
    detections = pd.read_csv(tmp_path / "detections.csv", keep_default_na=False)
    picks = pd.read_csv(tmp_path / "picks.csv", keep_default_na=False)
    assert summary["detections"] == len(detections) >= 1 and len(picks) == 2 * len(detections)
    for i, row in enumerate(detections.to_dict("records")):
        for k, phase in enumerate(("p", "s")):
            listed = picks.iloc[2 * i + k]
            assert listed["phase_type"] == phase.upper()
            assert listed["phase_score"] == pytest.approx(row[f"picking.{phase}_probability"], rel=1e-5)
    # An untrained picker is no surer of its picks than the classifier of its detections.
    assert not np.allclose(picks.phase_score.to_numpy()[::2], detections.peak_probability.to_numpy())


def test_without_an_arrival_model_there_are_no_picks_and_no_detection_is_an_empty_catalog(
    models, recording, tmp_path
):
    (tmp_path / "picks.csv").write_text("an earlier run's picks\n")
    summary = _predict(models, ["classification", "magnitude"], recording, tmp_path, 1.0)
    assert summary["detections"] == 0 and "picks_csv" not in summary
    assert not (tmp_path / "picks.csv").exists()
    assert len(obspy.read_events(summary["detections_xml"])) == 0


def test_tasks_say_which_estimates_are_magnitudes_and_arrivals():
    def entry(task, target="source_magnitude"):
        return {name: o.catalog_entry() for name, o in tasks.get(task, target).outputs().items()}

    entries = {target: entry("regression", target)[target] for target in stead.REGRESSION_TARGETS}
    assert entries == {
        "source_magnitude": "magnitude",
        "p_arrival_sample": "P",
        "s_arrival_sample": "S",
        "coda_end_sample": None,
        "source_distance_km": None,
        "source_depth_km": None,
        "back_azimuth_deg": None,
    }
    assert set(entry("classification").values()) == {None}
    assert {k: v for k, v in entry("picking").items() if v} == {
        "p_arrival_sample": "P",
        "s_arrival_sample": "S",
    }


def test_a_pickers_arrival_comes_from_its_most_confident_window():
    from techtonics.prediction import continuous

    starts = np.array([0.0, 10.0, 20.0])
    estimates = {
        "picker.p_arrival_sample": np.array([2500.0, 5900.0, 100.0]),  # P at 25 s; the others miss it
        "picker.p_probability": np.array([0.9, 0.2, 0.4]),
        "p.p_arrival_sample": np.array([2500.0, 1500.0, 500.0]),  # a regressor's: the median, as before
    }
    chosen_by = dict.fromkeys(("picker.p_arrival_sample", "picker.p_probability"), "picker.p_probability")
    (event,) = continuous.detections(starts, np.ones(3), estimates, 0.5, np.zeros(3), chosen_by)
    assert event["picker.p_arrival_time"] == 25.0 and event["picker.p_probability"] == 0.9
    assert event["p.p_arrival_time"] == 25.0  # median of 25, 25 and 25
