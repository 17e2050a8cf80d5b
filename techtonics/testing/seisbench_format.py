"""SeisBench-format datasets written with h5py, as SeisBench's WaveformDataWriter writes them, for the tests
and the benchmark (SeisBench itself needs PyTorch and is no dependency).

`write_chunk` packs traces into blocks `bucket{n}` of up to block_size
traces, padded with zeros to the block's largest trace, and names each
trace `bucket{n}$i,:channels,:samples` (a trace alone in its block keeps
its own name, as SeisBench's writer does); `stead_copy` rewrites STEAD
pairs the way SeisBench's STEAD conversion does (seisbench/data/stead.py):
columns renamed, (6000, 3) E/N/Z waveforms stored as (3, 6000) Z/N/E.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import h5py
import numpy as np
import pandas as pd

from techtonics.data import stead

# SeisBench's STEAD column names (seisbench/data/stead.py); the others keep STEAD's.
STEAD_RENAMED = {
    "p_arrival_sample": "trace_p_arrival_sample",
    "p_status": "trace_p_status",
    "p_weight": "trace_p_weight",
    "p_travel_sec": "path_p_travel_sec",
    "s_arrival_sample": "trace_s_arrival_sample",
    "s_status": "trace_s_status",
    "s_weight": "trace_s_weight",
    "back_azimuth_deg": "path_back_azimuth_deg",
    "snr_db": "trace_snr_db",
    "coda_end_sample": "trace_coda_end_sample",
    "network_code": "station_network_code",
    "receiver_code": "station_code",
    "receiver_type": "trace_channel",
    "receiver_latitude": "station_latitude_deg",
    "receiver_longitude": "station_longitude_deg",
    "receiver_elevation_m": "station_elevation_m",
    "source_latitude": "source_latitude_deg",
    "source_longitude": "source_longitude_deg",
}
STEAD_FORMAT = {
    "dimension_order": "CW",
    "component_order": "ZNE",
    "sampling_rate": 100,
    "measurement": "velocity",
    "unit": "counts",
    "instrument_response": "not restituted",
}


def write_chunk(
    directory: str,
    metadata: pd.DataFrame,
    traces: Iterable[np.ndarray],
    data_format: dict,
    chunk: str = "",
    block_size: int = 1024,
) -> None:
    """Writes metadata{chunk}.csv and waveforms{chunk}.hdf5: one row of metadata per trace, in order.

    traces: arrays in the data_format's dimension order; data_format: the
    values of the data_format group (None leaves a key out).
    """
    os.makedirs(directory, exist_ok=True)
    names = list(metadata.trace_name) if "trace_name" in metadata else [None] * len(metadata)
    located, original, block = [], [], []
    with h5py.File(os.path.join(directory, f"waveforms{chunk}.hdf5"), "w") as f:
        data = f.create_group("data")

        def flush():
            if len(block) == 1 and names[len(located)] is not None:
                name = str(names[len(located)]).replace("$", "_")
                data.create_dataset(name, data=block[0])
                located.append(name)
                original.append(np.nan)
            elif block:
                bucket = f"bucket{len(data)}"
                packed = np.zeros((len(block), *np.max([b.shape for b in block], axis=0)), block[0].dtype)
                for i, b in enumerate(block):
                    packed[(i, *(slice(0, s) for s in b.shape))] = b
                    located.append(f"{bucket}${i}," + ",".join(f":{s}" for s in b.shape))
                    original.append(names[len(located) - 1])
                data.create_dataset(bucket, data=packed)
            block.clear()

        for trace in traces:
            block.append(trace)
            if len(block) == block_size:
                flush()
        flush()
        group = f.create_group("data_format")
        for key, value in data_format.items():
            if value is not None:
                group.create_dataset(key, data=value)
    written = metadata.copy()
    written["trace_name"] = located
    if any(isinstance(o, str) for o in original):
        written["trace_name_original"] = original
    written.to_csv(os.path.join(directory, f"metadata{chunk}.csv"), index=False)


def stead_copy(pairs: list[stead.SteadPair], directory: str, split_of: dict | None = None, **kwargs) -> str:
    """The pairs' traces as one SeisBench-format dataset in directory, as SeisBench's STEAD conversion writes.

    split_of: trace name -> train/dev/test for the `split` column (default
    train); kwargs: write_chunk's block_size.
    """
    # STEAD's CSVs read as text, so every value is written back as it was ("None" becomes empty, as pandas
    # writes what SeisBench read as missing).
    frames = [pd.read_csv(p.csv, dtype=str, keep_default_na=False) for p in pairs]
    metadata = pd.concat(frames, ignore_index=True).replace(stead.MISSING, "")
    metadata["split"] = [(split_of or {}).get(name, "train") for name in metadata.trace_name]

    def traces():
        for pair in pairs:
            with stead.WaveformFile(pair.hdf5) as f:
                for name in pd.read_csv(pair.csv, usecols=["trace_name"], dtype=str).trace_name:
                    yield f.read(name)[:, ::-1].T  # (6000, 3) E/N/Z -> (3, 6000) Z/N/E

    write_chunk(directory, metadata.rename(columns=STEAD_RENAMED), traces(), STEAD_FORMAT, **kwargs)
    return directory
