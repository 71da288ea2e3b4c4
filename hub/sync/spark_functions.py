"""Functions Spark's Python workers run for the hub's comparisons.

Kept apart from `hub.sync.spark` so that a worker, which imports the module a function
lives in, loads numpy, pandas and rapidfuzz and nothing else of the hub.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist


def jaro_winkler(left: pd.Series, right: pd.Series) -> pd.Series:
    """DuckDB's `jaro_winkler_similarity`, vectorised: on UTF-8 bytes as DuckDB counts
    (an accented letter is two), null when either side is null, 0.0 when either is
    empty (DuckDB's answer; rapidfuzz would say 1.0 for two)."""
    a, b = left.to_numpy(dtype=object), right.to_numpy(dtype=object)
    known = pd.notna(a) & pd.notna(b)
    values = np.zeros(len(a), dtype=np.float64)
    if known.any():
        values[known] = cpdist([x.encode() for x in a[known]], [y.encode() for y in b[known]],
                               scorer=JaroWinkler.normalized_similarity, workers=1,
                               dtype=np.float64)  # float32 by default
        empty = np.fromiter((bool(known[i]) and (not a[i] or not b[i]) for i in range(len(a))),
                            dtype=bool, count=len(a))
        values[empty] = 0.0
    return pd.Series(pd.arrays.FloatingArray(values, ~known), index=left.index)
