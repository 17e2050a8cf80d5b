"""Convert STEAD into sharded TFRecords: `python -m techtonics.convert` under its documented name.

    python tools/convert_to_tfrecord.py --stead_dir=/data/STEAD --output_dir=gs://bucket/stead-tfrecords

The flags and the usage are in techtonics/convert.py, the logic in techtonics/conversion/.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("techtonics.convert", run_name="__main__", alter_sys=True)
