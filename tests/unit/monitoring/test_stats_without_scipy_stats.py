"""The tests' p-values come from scipy.special (cheap to import) and equal scipy.stats' to the last bit."""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from mlfactory.monitoring import stats


def test_chi_square_and_z_p_values_equal_scipy_stats() -> None:
    rng = np.random.default_rng(11)
    for _ in range(50):
        k = int(rng.integers(2, 12))
        ref = rng.integers(0, 400, size=(30, k)).astype("float64")
        cur = rng.integers(0, 400, size=(30, k)).astype("float64")
        ref[:3, 1:] = 0  # one-valued and empty rows give no p-value on either side
        cur[3:5] = 0
        chi, p, dof = stats.chi2_homogeneity(ref, cur, 5.0)
        expected = np.where(np.isnan(chi), np.nan, sps.chi2.sf(chi, np.maximum(dof, 1)))
        np.testing.assert_array_equal(p, expected)
        z, p_z = stats.two_proportion_z(ref[:, 0], ref.sum(axis=1), cur[:, 0], cur.sum(axis=1), 5.0)
        np.testing.assert_array_equal(p_z, np.where(np.isnan(z), np.nan, 2 * sps.norm.sf(np.abs(z))))
        assert np.isfinite(p).sum() > 20 and np.isfinite(p_z).sum() > 20
