"""Facts about seismic recordings that every reader shares: component codes, the lowest usable rate, ObsPy.

Continuous recordings (prediction/continuous.py) and SeisBench datasets
(seisbench_waveforms.py) name components by SEED's last channel letter;
both map them onto STEAD's E, N and Z columns here.
"""

from techtonics.core.errors import UserError

# SEED's component letters as STEAD's columns: 1 and 2 (horizontals not aligned to north) count as E and N.
COMPONENT = {"E": "E", "1": "E", "N": "N", "2": "N", "Z": "Z"}
# Below this rate a recording cannot hold the image's band (the spectrogram reaches 50 Hz at 100 Hz).
MIN_SAMPLING_RATE_HZ = 40.0


def import_obspy():
    """ObsPy, or one line saying how to install it (it is the `waveforms` extra)."""
    try:
        import obspy
    except ImportError:
        raise UserError(
            "continuous input needs ObsPy: pip install 'techtonics[waveforms]' (or pip install obspy)"
        ) from None
    return obspy
