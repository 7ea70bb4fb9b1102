"""The zoo's 95 % intervals against textbook values and scipy's exact forms."""

import pytest
from scipy import stats

from keras_ssm.intervals import (accuracy_interval, difference_interval, format_interval, poisson_rate_interval,
                                wilson_interval)


@pytest.mark.parametrize("correct, total, expected", [
    # Newcombe (1998), Stat. Med. 17:857, Table I, method 3 (Wilson score, no continuity correction).
    (81, 263, (0.2553, 0.3662)),
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
])
def test_wilson_matches_newcombe(correct, total, expected):
    assert wilson_interval(correct, total) == pytest.approx(expected, abs=5e-5)


def test_wilson_at_the_edges_and_against_scipy():
    low, high = wilson_interval(1126, 2000)  # lra_listops_s5: 56.30 % of 2,000 trees
    assert (low, high) == pytest.approx((0.54116, 0.58460), abs=1e-5)
    scipy_ci = stats.binomtest(1126, 2000).proportion_ci(method="wilson")
    assert (low, high) == pytest.approx((scipy_ci.low, scipy_ci.high), abs=1e-6)  # scipy's z is 1.95996...
    assert wilson_interval(0, 300)[0] == 0.0 and wilson_interval(300, 300)[1] == 1.0
    assert wilson_interval(300, 300)[0] == pytest.approx(0.98735, abs=1e-5)


@pytest.mark.parametrize("count", [0, 1, 5, 37, 100])
def test_poisson_is_garwoods_chi_square_interval(count):
    low, high = poisson_rate_interval(count)
    expected_low = 0.0 if count == 0 else stats.chi2.ppf(0.025, 2 * count) / 2
    assert (low, high) == pytest.approx((expected_low, stats.chi2.ppf(0.975, 2 * count + 2) / 2), rel=1e-9)


def test_poisson_textbook_values_and_rates():
    assert poisson_rate_interval(0) == pytest.approx((0.0, 3.689), abs=5e-4)  # the "rule of 3.69"
    assert poisson_rate_interval(5) == pytest.approx((1.623, 11.668), abs=5e-4)
    assert poisson_rate_interval(5, hours=0.25) == pytest.approx((4 * 1.6235, 4 * 11.6683), abs=2e-3)


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="`correct` must lie in"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="`total` must be a positive count"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="`count` must be a whole count"):
        poisson_rate_interval(-1)
    with pytest.raises(ValueError, match="`hours` must be a positive"):
        poisson_rate_interval(3, hours=0)
    with pytest.raises(ValueError, match="not a whole number of correct examples"):
        accuracy_interval(0.5, 3)
    assert format_interval(accuracy_interval(0.91, 300)) == "[87.2, 93.7] %"


def test_difference_interval_matches_newcombe():
    low, high = difference_interval(56, 70, 48, 80)  # Newcombe (1998), Table II, method 10
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    low, high = difference_interval(1100, 2000, 1100, 2000)
    assert low < 0 < high and low == pytest.approx(-high)
