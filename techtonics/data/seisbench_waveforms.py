"""SeisBench-format waveforms: where a trace lies in its block, and reading it as a (6000, 3) E/N/Z trace.

A SeisBench trace name is `block$location`: a dataset under `data/` and a
numpy index into it (`bucket3$12,:3,:6000` is row 12 of bucket3, its first
3 channels and 6,000 samples; the rest is padding). A name without `$` is
a dataset of its own. seisbench_metadata.py decides at plan time, from the
metadata, each trace's component order, length at 100 Hz and window start;
`WaveformReader` applies them in the writer processes:

1. read the slice with one HDF5 hyperslab read, converted to float32;
2. pick the E, N, Z components (1 and 2 count as E and N, as for --waveforms);
3. resample to 100 Hz by the Fourier method when the rate differs (`resample`:
   scipy.signal.resample's algorithm, the method ObsPy's Trace.resample and
   SeisBench use for such ratios), to round(samples x 100 / rate) samples;
4. keep samples [start, start + 6000) and pad a shorter rest with zeros at the end.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd

from techtonics.core import fileio
from techtonics.data import recordings, seisbench, stead

# The columns a plan adds for reading (seisbench_metadata.load_chunk); a shard's traces carry them.
NAME = "seisbench_name"  # the trace's SeisBench trace_name: block$location
ORDER = "seisbench_component_order"
SAMPLES = "samples_at_100hz"  # the trace's length once resampled
START = "window_start"  # first sample of the 60 s window, at 100 Hz
FILE_ORDER = "file_order"  # rank of the trace's place in the HDF5 file: what reads follow
READ_COLUMNS = (NAME, ORDER, SAMPLES, START, FILE_ORDER)


def parse_location(location: str) -> tuple:
    """SeisBench's slice text ("12,:3,:6000", "5,1:7,:", ":") as a numpy index; ValueError if malformed."""
    index = []
    for part in location.replace(" ", "").split(","):
        bounds = [int(b) if b else None for b in part.split(":")]
        if len(bounds) == 1 and bounds[0] is not None:
            index.append(bounds[0])
        elif 2 <= len(bounds) <= 3:
            index.append(slice(*bounds))
        else:
            raise ValueError(f"bad location {location!r}")
    return tuple(index)


def split_name(trace_name: str) -> tuple[str, str]:
    """(block, location): a name without `$` is a whole dataset."""
    block, _, location = trace_name.partition("$")
    return block, location or ":"


def sliced_shape(block_shape: tuple[int, ...], index: tuple) -> tuple[int, ...]:
    """The shape `index` selects from an array of block_shape, without reading it; IndexError if outside."""
    if len(index) > len(block_shape):
        raise IndexError(f"{len(index)} indices into {len(block_shape)} dimensions")
    # A zero-stride view of one byte: numpy checks the index and gives the shape at no cost.
    view = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), block_shape, (0,) * len(block_shape))
    return view[index].shape


def slice_key(block_shape: tuple[int, ...], index: tuple) -> tuple:
    """The samples `index` selects from an array of block_shape in one spelling, per axis an int or a
    slice's (start, stop, step): `0`, `0,:,:` and `0,:3,:6000` of a (n, 3, 6000) block are one slice."""
    full = (*index, *[slice(None)] * (len(block_shape) - len(index)))
    return tuple(p.indices(n) if isinstance(p, slice) else p % n for p, n in zip(full, block_shape))


def channel_columns(component_order: str) -> tuple[int, int, int] | None:
    """Where E, N and Z are among a trace's components ("ZNE" -> (2, 1, 0)); None if one is missing."""
    found: dict[int, int] = {}
    for position, component in enumerate(component_order.upper()):
        channel = recordings.COMPONENT.get(component)
        if channel is not None:
            found.setdefault(stead.CHANNELS.index(channel), position)
    return tuple(found[c] for c in range(len(stead.CHANNELS))) if len(found) == len(stead.CHANNELS) else None


def resample(x: np.ndarray, num: int) -> np.ndarray:
    """x (channels, n) resampled to num samples along the last axis by the Fourier method.

    scipy.signal.resample's algorithm for real input, in numpy (the
    converter does not depend on scipy): the spectrum is cut or zero-padded
    to num samples, the Nyquist bin split or joined, and the result scaled by num / n.
    """
    n = x.shape[-1]
    spectrum = np.fft.rfft(x, axis=-1)
    kept = min(num, n)
    resized = np.zeros((*x.shape[:-1], num // 2 + 1), spectrum.dtype)
    resized[..., : kept // 2 + 1] = spectrum[..., : kept // 2 + 1]
    if kept % 2 == 0 and num != n:
        # The bin at kept / 2 stands for +kept/2 and -kept/2 together.
        resized[..., kept // 2] *= 2.0 if num < n else 0.5
    return np.fft.irfft(resized, num, axis=-1) * (num / n)


def _hyperslab(index: tuple, shape: tuple[int, ...]):
    """(start, count, kept dimensions) of an index of ints and unit-step slices; None for other steps."""
    start, count, kept = [], [], []
    for axis, size in enumerate(shape):
        part = index[axis] if axis < len(index) else slice(None)
        if isinstance(part, slice):
            first, stop, step = part.indices(size)
            if step != 1:
                return None
            start.append(first)
            count.append(max(0, stop - first))
            kept.append(axis)
        else:
            start.append(part + size if part < 0 else part)
            count.append(1)
    return tuple(start), tuple(count), kept


class WaveformReader:
    """Reads a shard's traces from one SeisBench HDF5 file by the name its records get.

    traces: the shard's rows of a plan (seisbench_metadata.load_chunk), with
    `trace_name` and READ_COLUMNS. Use as a context manager, one per process
    and shard, like stead.WaveformFile.
    """

    def __init__(self, path: str, traces: pd.DataFrame):
        self.path = path
        self._channels_first = seisbench.read_data_format(path).dimension_order == "CW"
        columns = [traces[c].to_numpy() for c in (NAME, ORDER, SAMPLES, START)]
        self._traces = dict(zip(traces.trace_name, zip(*columns)))
        source = fileio.open_file(path, "rb") if fileio.is_remote(path) else path
        self._file = h5py.File(source, "r")
        self._group = self._file["data"]
        self._blocks: dict[str, h5py.h5d.DatasetID] = {}
        self._columns: dict[str, tuple[int, int, int] | None] = {}
        self._memory: dict[tuple, h5py.h5s.SpaceID] = {}  # memory dataspaces by shape

    def __enter__(self) -> WaveformReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the HDF5 file."""
        self._file.close()

    def _block(self, name: str) -> h5py.h5d.DatasetID:
        if name not in self._blocks:
            self._blocks[name] = h5py.h5d.open(self._group.id, name.encode())
        return self._blocks[name]

    def _slice(self, block: h5py.h5d.DatasetID, index: tuple) -> np.ndarray:
        """The trace as float32 (channels, samples): one hyperslab read, HDF5 converting the type."""
        slab = _hyperslab(index, block.shape)
        if slab is None:  # a step other than 1: h5py's own indexing
            return np.asarray(h5py.Dataset(block)[index], np.float32)
        start, count, kept = slab
        data = np.empty(count, np.float32)
        space = block.get_space()
        space.select_hyperslab(start, count)
        if count not in self._memory:
            self._memory[count] = h5py.h5s.create_simple(count)
        block.read(self._memory[count], space, data)
        data = data.reshape([count[axis] for axis in kept])
        return data if self._channels_first else data.T

    def _components(self, trace_name: str) -> tuple[np.ndarray, tuple[int, ...], int, int]:
        """(the trace's components as read, where E, N and Z are among them, its samples at 100 Hz,
        its window's start): resampled to 100 Hz, and then with E, N, Z first, when its rate differs."""
        where = f"{self.path}: trace {trace_name}"
        if trace_name not in self._traces:
            raise stead.BadTraceError("missing", f"{where} is not in this shard's metadata")
        location, order, samples, start = self._traces[trace_name]
        if order not in self._columns:
            self._columns[order] = channel_columns(order)
        block_name, index = split_name(location)
        columns = self._columns[order]
        try:
            data = self._slice(self._block(block_name), parse_location(index))
        except (KeyError, ValueError, IndexError, OSError, RuntimeError) as e:
            raise stead.BadTraceError("unreadable", f"{where}: {str(e).splitlines()[0]}") from None
        if data.shape[1] != samples:
            data, columns = resample(data[list(columns)].astype(np.float64), int(samples)), range(3)
        return data, tuple(columns), int(samples), int(start)

    def read(self, trace_name: str, out: np.ndarray | None = None) -> np.ndarray:
        """The trace's (6000, 3) float32 waveform, columns E, N, Z, at 100 Hz.

        Raises stead.BadTraceError (reason 'missing', 'unreadable' or
        'non_finite') naming the file and trace.
        """
        data, columns, samples, start = self._components(trace_name)
        if out is None:
            out = np.empty(stead.WAVEFORM_SHAPE, stead.WAVEFORM_DTYPE)
        width = min(samples - start, stead.TRACE_SAMPLES)
        for k, c in enumerate(columns):  # one strided copy a channel: no reordered copy of the whole trace
            out[:width, k] = data[c, start : start + width]
        out[width:] = 0.0
        return stead.check_waveform(out, self.path, trace_name)

    def read_whole(self, trace_name: str) -> np.ndarray:
        """The whole trace, (its samples at 100 Hz, 3) float32, columns E, N, Z (the pick-benchmark's
        windows index it); the same errors as `read`."""
        data, columns, _, _ = self._components(trace_name)
        whole = np.ascontiguousarray(data[list(columns)].T, np.float32)
        if not np.isfinite(whole).all():
            raise stead.BadTraceError(
                "non_finite", f"{self.path}: trace {trace_name}: holds NaN or infinite samples"
            )
        return whole
