"""SeisBench's own STEAD conversion, timed: the peer that docs/BENCHMARKS.md compares the converter with.

Runs in its own environment (SeisBench needs PyTorch, which TECHTONICS does not):

    python3 -m venv /tmp/sbvenv && /tmp/sbvenv/bin/pip install torch==2.13.0 seisbench 'numpy<2'
    /tmp/sbvenv/bin/python tools/seisbench_peer.py \\
        --stead_dir=DIR_WITH_MERGED_CSV_AND_HDF5 --cache=/tmp/sb-cache

`python -m techtonics.bench --seisbench_python=/tmp/sbvenv/bin/python` runs it
on the benchmark's own files. It imports nothing of TECHTONICS, so it runs by path
under another interpreter; that is why it is a stand-alone script here (with
argparse) and not a module of the package.

SeisBench converts STEAD only from the merged pair (merged.csv, merged.hdf5),
as `seisbench.data.STEAD(compile_from_source=True, download_kwargs={"basepath":
...})` does on first use, after its attempt to fetch a converted copy fails
offline. Its one download, EQTransformer's test-trace list, cannot be fetched
offline, so an empty list stands in for it (every trace then goes to train
or dev; the work per trace is the same). Prints traces/s from start to a
loaded dataset, in one process, as a user runs it.
"""

import argparse
import os
import pathlib
import shutil
import time

import numpy as np


def main() -> None:
    """Converts the merged pair with SeisBench from an empty cache and prints traces/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stead_dir", required=True, help="directory holding merged.csv and merged.hdf5")
    parser.add_argument("--cache", required=True, help="SeisBench's cache root; emptied first")
    args = parser.parse_args()
    cache = pathlib.Path(args.cache)
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["SEISBENCH_CACHE_ROOT"] = str(cache)
    started = time.perf_counter()
    import seisbench  # its import time is part of what a user waits for
    import seisbench.data
    import seisbench.util

    def offline(url, target, **kwargs):
        if pathlib.Path(target).name != "test.npy":
            raise ValueError(f"offline: {url}")  # SeisBench then converts from source
        np.save(target, np.array([], dtype=str))

    seisbench.util.download_http = offline
    dataset = seisbench.data.STEAD(compile_from_source=True, download_kwargs={"basepath": args.stead_dir})
    seconds = time.perf_counter() - started
    print(
        f"seisbench {seisbench.__version__}: {len(dataset)} traces in {seconds:.1f} s "
        f"({len(dataset) / seconds:,.0f} traces/s)"
    )


if __name__ == "__main__":
    main()
