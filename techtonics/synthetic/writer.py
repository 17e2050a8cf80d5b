"""Generated traces written in real STEAD's file layout: one CSV + HDF5 pair, as the real files hold them.

Every value is written as the real files write it (missing values, the SNR
and coda arrays' text in the CSV, 'None' strings among the HDF5 attributes),
so the reader in techtonics.data.stead cannot tell the two apart. generator.py
draws the traces; this module only writes them.
"""

from __future__ import annotations

import csv

import h5py
import numpy as np

from techtonics.core import fileio
from techtonics.data import stead


def _csv_text(column: str, value, category: str) -> str:
    """A value as the real CSV writes it."""
    if value is None:
        # Real noise rows leave the event columns empty; earthquakes write None.
        return "" if category == stead.NOISE_CATEGORY else stead.MISSING
    if column == stead.SNR_COLUMN:
        return np.array2string(np.asarray(value), legacy="1.13")
    if column == stead.CODA_COLUMN:
        return np.array2string(np.array([[value]]), legacy="1.13")
    return str(value)


def _hdf5_attribute(column: str, value):
    """A value as the real HDF5 attributes hold it (string 'None' when missing)."""
    if value is None:
        return stead.MISSING
    if column == stead.SNR_COLUMN:
        return np.asarray(value, dtype=np.float64)
    if column == stead.CODA_COLUMN:
        return np.array([[value]], dtype=np.float64)
    return value


class _TraceWriter:
    """Writes traces into a STEAD HDF5 group with h5py's low-level API.

    h5py's `attrs[name] = value` creates every attribute under a temporary
    name and renames it; with 35 attributes a trace that made the writer the
    generator's bottleneck (about 4 ms a trace; 0.7 ms this way, the
    waveform included). The types
    are h5py's own: variable-length UTF-8 strings, float64, int64.
    """

    def __init__(self, group: h5py.Group):
        self._group = group.id
        self._waveform_type = h5py.h5t.py_create(stead.WAVEFORM_DTYPE)
        self._waveform_space = h5py.h5s.create_simple(stead.WAVEFORM_SHAPE)
        self._dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        self._dcpl.set_obj_track_times(False)  # same seed, same bytes
        text = h5py.string_dtype()
        self._text = (text, h5py.h5t.py_create(text, logical=True), h5py.h5t.py_create(text))
        self._spaces = {(): h5py.h5s.create(h5py.h5s.SCALAR)}

    def _space(self, shape: tuple[int, ...]):
        if shape not in self._spaces:
            self._spaces[shape] = h5py.h5s.create_simple(shape)
        return self._spaces[shape]

    def write(self, name: str, waveform: np.ndarray, attributes: dict) -> None:
        """One dataset `name` holding the waveform, with one attribute per item."""
        dataset = h5py.h5d.create(
            self._group, name.encode(), self._waveform_type, self._waveform_space, dcpl=self._dcpl
        )
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(waveform, stead.WAVEFORM_DTYPE))
        for key, value in attributes.items():
            if isinstance(value, str):
                array, file_type, memory_type = np.array(value, self._text[0]), self._text[1], self._text[2]
            else:
                array = np.asarray(value)
                file_type = memory_type = h5py.h5t.py_create(array.dtype)
            attribute = h5py.h5a.create(dataset, key.encode(), file_type, self._space(array.shape))
            attribute.write(array, mtype=memory_type)


def write_pair(pair: stead.SteadPair, blocks) -> int:
    """Writes generated blocks (rows, waveforms) as one CSV + HDF5 pair, atomically; returns the count."""
    hdf5_tmp, csv_tmp = fileio.temporary_path(pair.hdf5), fileio.temporary_path(pair.csv)
    written = 0
    try:
        with h5py.File(hdf5_tmp, "w") as h5, open(csv_tmp, "w", newline="") as csv_file:
            traces = _TraceWriter(h5.create_group(stead.HDF5_GROUP))
            writer = csv.writer(csv_file, lineterminator="\n")
            writer.writerow(stead.COLUMNS)
            for rows, waveforms in blocks:
                for row, waveform in zip(rows, waveforms):
                    category = row["trace_category"]
                    values = [row.get(c) for c in stead.COLUMNS]
                    writer.writerow([_csv_text(c, v, category) for c, v in zip(stead.COLUMNS, values)])
                    attributes = {c: _hdf5_attribute(c, v) for c, v in zip(stead.COLUMNS, values)}
                    traces.write(row["trace_name"], waveform, attributes)
                    written += 1
        # The HDF5 file is renamed first: a CSV on disk always has its waveforms.
        fileio.rename(hdf5_tmp, pair.hdf5)
        fileio.rename(csv_tmp, pair.csv)
    finally:
        fileio.remove(hdf5_tmp)
        fileio.remove(csv_tmp)
    return written
