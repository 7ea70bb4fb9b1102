"""95 % intervals: Wilson for an accuracy (a count of correct examples out
of a total), Newcombe's for the difference of two accuracies, exact Poisson
(Garwood) for a count of events over a time, such as false alarms per hour. Plain math, below everything that reports a figure
(the keyword-stream score, the zoo, the benchmarks).

Every interval that `zoo evaluate`, a model card, a preset's metadata or
`benchmarks/zoo.md` shows comes from these functions.
"""

import math

Z95 = 1.96


def wilson_interval(correct, total, z=Z95):
    """The Wilson score interval `(low, high)` of a proportion `correct / total`.

    Unlike the normal approximation it stays inside [0, 1] and is not empty
    at 0 or `total` correct (Wilson 1927; Newcombe 1998, method 3).

    Args:
        correct: the count of successes, an int in `[0, total]`.
        total: the count of trials, a positive int.
        z: the normal quantile (1.96 for 95 %).

    >>> [round(v, 4) for v in wilson_interval(81, 263)]   # Newcombe (1998), Table I
    [0.2553, 0.3662]
    >>> wilson_interval(0, 20)[0], round(wilson_interval(0, 20)[1], 4)
    (0.0, 0.1611)
    """
    for name, value in (("correct", correct), ("total", total)):
        if isinstance(value, bool) or not float(value).is_integer():
            raise ValueError(f"`{name}` must be a whole count, got {value!r}.")
    correct, total = int(correct), int(total)
    if total <= 0:
        raise ValueError(f"`total` must be a positive count, got {total!r}.")
    if not 0 <= correct <= total:
        raise ValueError(f"`correct` must lie in [0, total={total}], got {correct!r}.")
    if not z > 0:
        raise ValueError(f"`z` must be a positive normal quantile (1.96 for 95 %), got {z!r}.")
    p = correct / total
    scale = 1 + z * z / total
    center = (p + z * z / (2 * total)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    # The bounds are exactly 0 and 1 when no / every example is correct (round-off would leave ~1e-17).
    low = 0.0 if correct == 0 else max(0.0, center - half)
    high = 1.0 if correct == total else min(1.0, center + half)
    return low, high


def difference_interval(correct_a, total_a, correct_b, total_b):
    """Newcombe's hybrid score interval (1998, method 10) of the difference of
    two independent accuracies, `correct_a / total_a − correct_b / total_b`,
    built from their Wilson intervals.

    >>> [round(v, 4) for v in difference_interval(56, 70, 48, 80)]   # Newcombe (1998), Table II (a)
    [0.0524, 0.3339]
    """
    pa, pb = correct_a / total_a, correct_b / total_b
    la, ua = wilson_interval(correct_a, total_a)
    lb, ub = wilson_interval(correct_b, total_b)
    d = pa - pb
    return d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


def _poisson_cdf(count, mean):
    """P(X <= count) for X ~ Poisson(mean), summed in log space."""
    if mean == 0:
        return 1.0
    return sum(math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(count + 1))


def _solve(f, low, high):
    """The root of the decreasing `f` in [low, high], by bisection to float precision."""
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if f(middle) > 0 else (low, middle)
    return (low + high) / 2


def poisson_rate_interval(count, hours=1.0, confidence=0.95):
    """The exact (Garwood 1936) interval `(low, high)` of an event rate per hour.

    `count` events were seen in `hours`: the bounds are the Poisson means
    whose tail probabilities are `(1 - confidence) / 2` (the chi-square form
    `chi2.ppf(a/2, 2k) / 2`, `chi2.ppf(1 - a/2, 2k + 2) / 2`), divided by
    `hours`.

    Args:
        count: the events seen, an int >= 0 (e.g. false alarms).
        hours: the time they were seen in, a positive number.
        confidence: the interval's coverage (0.95).

    >>> [round(v, 4) for v in poisson_rate_interval(0)]
    [0.0, 3.6889]
    >>> [round(v, 4) for v in poisson_rate_interval(5)]
    [1.6235, 11.6683]
    >>> [round(v, 3) for v in poisson_rate_interval(5, hours=0.5)]   # per hour
    [3.247, 23.337]
    """
    if isinstance(count, bool) or not float(count).is_integer() or count < 0:
        raise ValueError(f"`count` must be a whole count >= 0, got {count!r}.")
    if isinstance(hours, bool) or not hours > 0:
        raise ValueError(f"`hours` must be a positive number of hours, got {hours!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must lie in (0, 1), got {confidence!r}.")
    count, tail = int(count), (1 - confidence) / 2
    top = count + 20 * math.sqrt(count + 1) + 20  # far above any 99.99 % bound
    # Lower bound: P(X >= count) = tail, i.e. P(X <= count - 1) = 1 - tail; none for count = 0.
    low = 0.0 if count == 0 else _solve(lambda m: _poisson_cdf(count - 1, m) - (1 - tail), 0.0, top)
    high = _solve(lambda m: _poisson_cdf(count, m) - tail, 0.0, top)
    return low / hours, high / hours


def accuracy_interval(accuracy, total, z=Z95):
    """The Wilson interval of an accuracy stated as a fraction of `total`
    examples (the correct count is `accuracy * total`, rounded: a float32
    accuracy of a few hundred examples is exact to the example).

    >>> [round(v, 4) for v in accuracy_interval(0.563, 2000)]
    [0.5412, 0.5846]
    """
    correct = round(accuracy * total)
    if abs(correct - accuracy * total) > 1e-3:
        raise ValueError(
            f"`accuracy` {accuracy!r} is not a whole number of correct examples out of `total` {total}: "
            "pass the count it was measured on."
        )
    return wilson_interval(correct, total, z)


def format_interval(interval, percent=True, digits=1):
    """`"[54.1, 58.5] %"`: an interval as a card or table shows it.

    >>> format_interval((0.5412, 0.5846))
    '[54.1, 58.5] %'
    >>> format_interval((1.6235, 11.6683), percent=False)
    '[1.6, 11.7]'
    """
    low, high = interval
    if percent:
        return f"[{100 * low:.{digits}f}, {100 * high:.{digits}f}] %"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def metric_intervals(metrics):
    """A copy of a preset's `metrics` with `<key>_interval` ([low, high], Wilson
    95 %) beside every accuracy of the main block and of each `subsets` block,
    from that block's `examples` (the number of test examples it counts).

    >>> metric_intervals({"accuracy": 0.563, "examples": 2000})["accuracy_interval"]
    [0.541161, 0.584598]
    """
    def block(values):
        out = dict(values)
        for key, value in values.items():
            if key.startswith("accuracy") and not key.endswith("_interval") and isinstance(value, float):
                if "examples" not in values:
                    raise ValueError(f"metrics: `{key}` has no `examples` beside it, so no interval: add the "
                                     "number of test examples it was measured on.")
                out[f"{key}_interval"] = [round(v, 6) for v in accuracy_interval(value, values["examples"])]
        return out

    out = block(metrics)
    if "subsets" in metrics:
        out["subsets"] = [block(subset) for subset in metrics["subsets"]]
    return out
