"""Detections in the field's formats: a QuakeML catalog (through ObsPy) and picks in PhaseNet's CSV.

`write` turns the detections of a continuous recording (continuous.detections,
one dict per detection) into two files beside detections.csv:

- detections.xml, QuakeML: one Event per detection, `event_type` earthquake,
  certainty "suspected". Every field of the detection is a Comment
  `name=value` (station, start, end, peak_probability, peak_window_start,
  windows, and each estimate that is neither a magnitude nor an arrival);
  times are ISO 8601 UTC to the microsecond, numbers as Python writes them,
  so each reads back exactly. A magnitude regressor's estimate is a
  Magnitude (type "M": STEAD's magnitudes mix ML, MD, MB and others), an
  arrival regressor's a Pick of phase P or S on the station's vertical
  channel (NET.STA.LOC.BAND + Z). The catalog's comments name the detecting
  column and the threshold. Identifiers are made from the station and the
  times, so the same detections give the same file.
- picks.csv, when a P- or S-arrival model is given: the columns of PhaseNet's
  and QuakeFlow's picks (`station_id, phase_time, phase_score,
  phase_type`): the station id NET.STA.LOC.BAND as PhaseNet writes it, the
  arrival in UTC to the millisecond, its score (a picker's: the pick's own
  probability; a regressor gives none, so the detection's peak probability),
  and P or S.

Which estimate is which comes from the tasks' declared outputs (task_base.Output.catalog_entry).
"""

from __future__ import annotations

import csv
import io

import techtonics
from techtonics.core import fileio
from techtonics.data import recordings
from techtonics.prediction import continuous

DETECTION_FIELDS = ("station", "start", "end", "peak_probability", "peak_window_start", "windows")
PICK_COLUMNS = ("station_id", "phase_time", "phase_score", "phase_type")
PHASES = ("P", "S")
_ID = "smi:techtonics"


def _text(name: str, value) -> str:
    """A detection's field as a comment's value: times in ISO 8601 UTC, numbers exactly."""
    if continuous.is_time(name):
        return str(recordings.import_obspy().UTCDateTime(value))
    return repr(value) if isinstance(value, float) else str(value)


def _compact(seconds: float) -> str:
    """A time as a QuakeML resource identifier may hold it (no colons)."""
    return recordings.import_obspy().UTCDateTime(seconds).strftime("%Y%m%dT%H%M%S.%f")


def _model(key: str) -> str:
    """The model whose estimate a detection's field is: `magnitude` of `magnitude.source_magnitude`."""
    return key.rsplit(".", 1)[0]


def _event(detection: dict, entries: dict[str, str]):
    """One detection as an ObsPy Event."""
    obspy = recordings.import_obspy()
    ev = obspy.core.event
    station = detection["station"]
    event_id = f"{_ID}/detection/{station}/{_compact(detection['start'])}"
    network, code, location, band = station.split(".")
    event = ev.Event(
        resource_id=ev.ResourceIdentifier(event_id),
        event_type="earthquake",
        event_type_certainty="suspected",
        creation_info=ev.CreationInfo(author=f"TECHTONICS {techtonics.__version__}"),
    )
    for name in [*DETECTION_FIELDS, *sorted(set(detection) - set(DETECTION_FIELDS) - set(entries))]:
        text = f"{name}={_text(name, detection[name])}"
        event.comments.append(ev.Comment(text=text, resource_id=ev.ResourceIdentifier(f"{event_id}/{name}")))
    for key, entry in sorted(entries.items()):
        if key not in detection:
            continue
        method = ev.ResourceIdentifier(f"{_ID}/model/{_model(key)}")
        if entry == "magnitude":
            event.magnitudes.append(
                ev.Magnitude(
                    resource_id=ev.ResourceIdentifier(f"{event_id}/{key}"),
                    mag=detection[key],
                    magnitude_type="M",
                    method_id=method,
                    evaluation_mode="automatic",
                )
            )
        else:
            event.picks.append(
                ev.Pick(
                    resource_id=ev.ResourceIdentifier(f"{event_id}/{key}"),
                    time=obspy.UTCDateTime(detection[key]),
                    waveform_id=ev.WaveformStreamID(network, code, location, band + "Z"),
                    phase_hint=entry,
                    method_id=method,
                    evaluation_mode="automatic",
                )
            )
    if event.magnitudes:
        event.preferred_magnitude_id = event.magnitudes[0].resource_id
    return event


def quakeml(detections: list[dict], entries: dict[str, str], detector: str, threshold: float) -> bytes:
    """The detections as a QuakeML document (see the module's docstring).

    entries: {a detection's field: "magnitude", "P" or "S"} for the estimates
    that are magnitudes or arrivals; detector: the probability column that
    detects; threshold: the probability it must reach.
    """
    ev = recordings.import_obspy().core.event
    catalog = ev.Catalog(
        events=[_event(d, entries) for d in detections],
        resource_id=ev.ResourceIdentifier(f"{_ID}/detections"),
        description="TECHTONICS detections: windows whose earthquake probability reaches the threshold",
        creation_info=ev.CreationInfo(author=f"TECHTONICS {techtonics.__version__}"),
    )
    for name, value in (("detector", detector), ("threshold", repr(float(threshold)))):
        catalog.comments.append(
            ev.Comment(text=f"{name}={value}", resource_id=ev.ResourceIdentifier(f"{_ID}/detections/{name}"))
        )
    buffer = io.BytesIO()
    catalog.write(buffer, format="QUAKEML")
    return buffer.getvalue()


def picks_csv(detections: list[dict], entries: dict[str, str], scores: dict[str, str]) -> str:
    """One row per arrival estimate of every detection, in PhaseNet's columns (PICK_COLUMNS).

    scores: {an arrival's detection field: the field of its own probability}, for a picker's arrivals;
    any other arrival is scored with the detection's peak probability.
    """
    obspy = recordings.import_obspy()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(PICK_COLUMNS)
    arrivals = sorted((key, phase) for key, phase in entries.items() if phase in PHASES)
    for detection in detections:
        for key, phase in arrivals:
            if key in detection:
                rounded = obspy.UTCDateTime(round(detection[key], 3))  # isoformat cuts, not rounds
                time = rounded.datetime.isoformat(timespec="milliseconds")
                score = detection[scores.get(key, "peak_probability")]
                writer.writerow([detection["station"], time, f"{score:.6g}", phase])
    return text.getvalue()


def write(
    output_dir: str,
    detections: list[dict],
    entries: dict[str, str],
    detector: str,
    threshold: float,
    scores: dict[str, str],
) -> dict:
    """Writes detections.xml, and picks.csv when an estimate is an arrival, atomically into output_dir.

    Arguments as `quakeml`'s and `picks_csv`'s. Returns what the run's summary adds: the paths.
    """
    written = {"detections_xml": fileio.join(output_dir, "detections.xml")}
    fileio.write_atomic(written["detections_xml"], quakeml(detections, entries, detector, threshold))
    picks = fileio.join(output_dir, "picks.csv")
    if any(phase in PHASES for phase in entries.values()):
        fileio.write_atomic(picks, picks_csv(detections, entries, scores))
        written["picks_csv"] = picks
    return written
