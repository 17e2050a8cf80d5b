"""What real STEAD looks like: the distributions the synthetic STEAD draws from and is tested against.

Two sources, named on every entry (docs/SYNTHETIC.md has the table):
- the STEAD paper, Mousavi et al. (2019), IEEE Access 7, 179464-179476:
  its text, and histograms and pie charts read off its figures (counts to
  about two significant digits, bin edges to about a tenth of a bin);
- the 100 real metadata rows in ../shared/data/stead_metadata_100_real.csv.
  They are one TA station (BH, 2006-2008, magnitudes 1.4-4.3), so they say
  little about magnitude or distance overall, but they show where real
  traces place the P arrival and how per-channel SNR compares.

A profile is the SNR and P-placement mix a synthetic STEAD is drawn with:
`stead` matches the paper; `hard` is the generator's earlier mix (a quarter of
the earthquakes below 5 dB, P anywhere in 4-15 s), kept for stress tests.
"""

from __future__ import annotations

import dataclasses

import numpy as np

PAPER = "Mousavi et al. (2019)"


@dataclasses.dataclass(frozen=True)
class Histogram:
    """A distribution given as bin edges and counts, drawn uniformly within a bin."""

    edges: tuple[float, ...]
    counts: tuple[float, ...]
    source: str

    def __post_init__(self):
        if len(self.edges) != len(self.counts) + 1:
            raise ValueError(f"{self.source}: {len(self.edges)} edges for {len(self.counts)} bins")

    def _cdf_points(self) -> tuple[np.ndarray, np.ndarray]:
        cumulative = np.concatenate([[0.0], np.cumsum(self.counts)])
        return np.asarray(self.edges, float), cumulative / cumulative[-1]

    def quantile(self, q) -> np.ndarray:
        """The inverse CDF at q (scalar or array in [0, 1]), linear within a bin; empty bins are skipped."""
        edges, cdf = self._cdf_points()
        q = np.asarray(q, float)
        # The last edge whose CDF is at most q starts the bin that holds q (never an empty one).
        k = np.clip(np.searchsorted(cdf, q, side="right") - 1, 0, len(self.counts) - 1)
        share = cdf[k + 1] - cdf[k]
        within = np.divide(q - cdf[k], share, out=np.zeros_like(share), where=share > 0)
        return edges[k] + within * (edges[k + 1] - edges[k])

    def cdf(self, x) -> np.ndarray:
        """The CDF at x (scalar or array)."""
        edges, cdf = self._cdf_points()
        return np.interp(x, edges, cdf)

    def density(self, x) -> np.ndarray:
        """The probability density at x (scalar or array); zero outside the edges."""
        edges, counts = np.asarray(self.edges, float), np.asarray(self.counts, float)
        per_unit = np.concatenate([[0.0], counts / np.diff(edges) / counts.sum(), [0.0]])
        return per_unit[np.searchsorted(edges, x, side="right")]

    def sample(self, rng: np.random.Generator, size=None) -> np.ndarray:
        """Draws from the distribution."""
        return self.quantile(rng.random(size))


@dataclasses.dataclass(frozen=True)
class Shares:
    """A categorical distribution: each value's share."""

    shares: dict[str, float]
    source: str

    def sample(self, rng: np.random.Generator) -> str:
        """Draws one value."""
        values = list(self.shares)
        weights = np.asarray([self.shares[v] for v in values])
        return values[rng.choice(len(values), p=weights / weights.sum())]


def _even_edges(start: float, width: float, bins: int) -> tuple[float, ...]:
    return tuple(round(start + width * i, 3) for i in range(bins + 1))


MAGNITUDE = Histogram(  # Fig. 11: 30 bins of 0.28 from -0.5 to 7.9 (log-scale counts)
    _even_edges(-0.5, 0.28, 30),
    (33, 8e3, 5.4e4, 1.12e5, 1.4e5, 1.22e5, 1.28e5, 1.1e5, 9e4, 6.2e4, 4.2e4, 3.6e4, 3.2e4, 2.7e4, 2e4)
    + (2.1e4, 1.35e4, 7.5e3, 3.6e3, 1.85e3, 600, 400, 180, 82, 65, 11, 33, 1, 0, 3),
    f"{PAPER}, Fig. 11",
)
DISTANCE_KM = Histogram(  # Fig. 9: the pie chart's seven distance classes, in percent
    (0, 5, 10, 20, 40, 80, 110, 350), (9, 6, 14, 21, 29, 13, 8), f"{PAPER}, Fig. 9"
)
DEPTH_KM = Histogram(  # Fig. 10: 30 bins of 11.5 km from -3.5 km (log-scale counts)
    _even_edges(-3.5, 11.5, 30),
    (4.8e5, 3.9e5, 4e4, 2.8e4, 1.75e4, 1.6e4, 1.5e4, 1.1e4, 9.5e3, 8.5e3, 6.2e3, 5.2e3, 1.8e3, 900, 480)
    + (430, 340, 330, 220, 180, 80, 55, 45, 30, 25, 28, 17, 12, 2, 4),
    f"{PAPER}, Fig. 10",
)
# Fig. 17: the SNR of earthquake traces averaged over the three channels, 31 bins of 2.6 dB.
# SNR there is 20 log10 of the 95th percentile of |amplitude| just after S over that just before P.
SNR_DB = Histogram(
    _even_edges(0.6, 2.6, 31),
    (2.2e3, 1.1e4, 2.45e4, 4.1e4, 5.8e4, 7.6e4, 9e4, 9.6e4, 9.5e4, 8.95e4, 7.9e4, 7.1e4, 6.05e4, 5.1e4)
    + (4.3e4, 3.5e4, 2.8e4, 2.3e4, 1.85e4, 1.45e4, 1.13e4, 8.7e3, 6.5e3, 4.9e3, 3.6e3, 2.6e3, 1.9e3)
    + (1.3e3, 900, 600, 300),
    f"{PAPER}, Fig. 17",
)
# The earlier generator's SNR, from 1,000 of its earthquakes (quantiles 5/25/50/75/95 at the
# inner edges): the `hard` profile.
HARD_SNR_DB = Histogram(
    (-8.0, -0.1, 3.9, 10.8, 21.1, 37.1, 55.0), (5, 20, 25, 25, 20, 5), "the generator before issue 15"
)

MAGNITUDE_TYPE = Shares({"ml": 69.8, "md": 23.0, "mb": 4.9, "mw": 2.3}, f"{PAPER}, Fig. 12 ('etc' as mw)")
# Fig. 16, over all traces; the 0.5% of SH, EL, HL, BL and LH are written as SH.
RECEIVER_TYPE = Shares({"HH": 49.6, "BH": 25.5, "EH": 24.5, "SH": 0.5}, f"{PAPER}, Fig. 16")
P_STATUS = Shares({"manual": 37, "autopicker": 12, "automatic": 0.8}, f"{PAPER}, Fig. 14")
S_STATUS = Shares({"manual": 34, "autopicker": 16}, f"{PAPER}, Fig. 14")
MAGNITUDE_AUTHOR_SHARE = 0.24  # the paper's text: the author is given for about 24% of the traces

# The original project's subset of STEAD (docs/ORIGINAL.md): 267,822 traces, 71,500 of them noise.
# The reproduction and the benchmark generate data in its class ratio.
ORIGINAL_SUBSET_TRACES = 267_822
ORIGINAL_NOISE_SHARE = 71_500 / ORIGINAL_SUBSET_TRACES

# Real traces start 5-10 s before P (the paper's text); the real rows hold P at whole seconds 4-9.
P_ARRIVAL_SAMPLES = (400, 500, 600, 700, 800, 900)
S_AFTER_END_SAMPLES = 500  # the paper's text: a trace ends at least 5 s after S


@dataclasses.dataclass(frozen=True)
class Profile:
    """The SNR and P placement of a synthetic STEAD."""

    snr_db: Histogram
    p_arrival_samples: tuple[int, ...]  # drawn with equal chance

    def p_arrival(self, rng: np.random.Generator, latest: int) -> int:
        """Draws the P arrival sample of one trace, among those no later than `latest` (if any)."""
        choices = [p for p in self.p_arrival_samples if p <= latest] or [min(self.p_arrival_samples)]
        return int(choices[rng.integers(len(choices))])


PROFILES = {
    "stead": Profile(SNR_DB, P_ARRIVAL_SAMPLES),
    "hard": Profile(HARD_SNR_DB, tuple(range(400, 1500))),
}
