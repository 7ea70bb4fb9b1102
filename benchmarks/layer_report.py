"""The report of the layer benchmark: the results store (`results/layers.json`:
`config_key`, `load_results`, `merge`), the markdown table (`render_table`),
the targets of issue #7 (`targets`, `render_targets`), the fwd+bwd plot, and
`render`, which writes `layers.md` and `layers.png`."""

import json
import math

from benchmarks.layer_config import (
    BACKENDS, CALLS, CALLS_LONG, LAYERS, LONG, NAMES, POLICIES, STATE_DIM, STEPS_PER_CALL, WARMUP, B, H,
)


# -- results ------------------------------------------------------------------


def config_key(layer, backend, length, policy="float32"):
    key = f"{layer}/{backend}/{length}"
    return key if policy == "float32" else f"{key}/{policy}"


def load_results(path):
    if path.exists():
        return json.loads(path.read_text())
    return {"configs": {}, "code_versions": {}}


def merge(store, layer, backend, length, policy, phase_results, code_id, when):
    """Stores the new phase results of a config, keeping its other phases."""
    entry = store["configs"].setdefault(
        config_key(layer, backend, length, policy),
        {"layer": layer, "backend": backend, "L": length, "policy": policy},
    )
    entry.update(B=B, H=H, state_dim=STATE_DIM)
    for phase, result in phase_results.items():
        entry[phase] = {**result, "code": code_id, "when": when}


def _median(entry, phase):
    result = entry.get(phase) if entry else None
    return result.get("median_ms") if result else None


def _first(entry, phase="fwdbwd"):
    result = entry.get(phase) if entry else None
    return result["warmup_ms"][0] if result and result.get("warmup_ms") else None


def _run_mb(entry):
    """The memory one fwd+bwd call adds at run time (the `mem` worker)."""
    result = entry.get("memory") if entry else None
    return result.get("run_peak_mb") if result else None


def _added_mb(entry):
    """Peak resident size minus the size after build: what the run added,
    compilation included."""
    if not entry:
        return None
    timed = [entry[p] for p in ("fwd", "fwdbwd") if p in entry and "max_rss_mb" in entry[p]]
    build = next((r["rss_after_build_mb"] for r in timed if r.get("rss_after_build_mb")), None)
    if not timed or build is None:
        return None
    return max(r["max_rss_mb"] for r in timed) - build


def _ratio(a, b):
    return None if a is None or not b else a / b


def _ms(result):
    """A phase's median cell: ms, or its status when it has no timing."""
    if result is None:
        return "–"
    if "median_ms" not in result:
        return result["status"]
    ms = result["median_ms"]
    cell = f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.3f}"
    return cell if result["status"] == "ok" else f"{cell} ({result['status']})"


def _num(value, digits=0):
    return "–" if value is None else f"{value:.{digits}f}"


def _backend_cell(entry):
    if entry["backend"] != "reference":
        return entry["backend"] + ("" if entry.get("policy", "float32") == "float32" else " bf16")
    from benchmarks.references import FRAMEWORK

    return f"**reference** ({FRAMEWORK[entry['layer']]})"


def table_row(entry, store):
    """One markdown row of a stored config."""
    fwd, fwdbwd, kernel, step = (entry.get(p) for p in ("fwd", "fwdbwd", "kernel", "step"))
    first = " / ".join(
        f"{r['warmup_ms'][0]:.0f}" if r.get("warmup_ms") else r["status"] for r in (fwd, fwdbwd) if r
    ) or "–"
    ref = store["configs"].get(config_key(entry["layer"], "reference", entry["L"]))
    is_ref = entry["backend"] == "reference"
    ratios = [
        None if is_ref else _ratio(_median(entry, "fwdbwd"), _median(ref, "fwdbwd")),
        None if is_ref else _ratio(_first(entry), _first(ref)),
        None if is_ref else _ratio(_run_mb(entry), _run_mb(ref)),
    ]
    contention = max(
        (r["other_cores"] for r in (fwd, fwdbwd, kernel, step) if r and "other_cores" in r), default=None
    )
    cells = [
        NAMES[entry["layer"]], _backend_cell(entry), str(entry["L"]), _ms(fwd), _ms(fwdbwd), first,
        _num(_added_mb(entry)), _num(_run_mb(entry)), _ms(kernel), _num(kernel.get("peak_mb") if kernel else None, 1),
        _num(step["median_ms"] * 1e3 if step and "median_ms" in step else None),
        *(_num(r, 2) for r in ratios), _num(contention, 2),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| layer | backend | L | fwd ms | fwd+bwd ms | first call ms (fwd / fwd+bwd) | peak − build MB "
    "| fwd+bwd run MB | kernel ms | kernel peak MB | step µs | fwd+bwd ÷ ref | first call ÷ ref "
    "| run MB ÷ ref | other cores |\n" + "|---" * 15 + "|"
)


def _order(entry):
    backends = (*BACKENDS, "reference")
    policy = POLICIES.index(entry.get("policy", "float32"))
    return LAYERS.index(entry["layer"]), entry["L"], policy, backends.index(entry["backend"])


def render_table(store):
    """The markdown table of every stored config, by layer, L, backend."""
    rows = [table_row(e, store) for e in sorted(store["configs"].values(), key=_order)]
    return "\n".join([HEADER, *rows])


# -- the targets of issue #7 ---------------------------------------------------

# (layer, backend) -> the largest fwd+bwd ÷ reference asked for.
SPEED_TARGETS = {("s5", "jax"): 0.5, ("s5bi", "jax"): 0.5, ("s4d", "torch"): 0.25, ("dss", "torch"): 0.25}
MAIN_L = 4096


def _get(store, layer, backend, length, policy="float32"):
    return store["configs"].get(config_key(layer, backend, length, policy))


def targets(store):
    """`[(target, measured, limit, met)]` for every target the store can check."""
    rows = []
    lengths = sorted({e["L"] for e in store["configs"].values()})

    def add(what, value, limit):
        if value is not None:
            rows.append((what, value, limit, value <= limit))

    for (layer, backend), limit in SPEED_TARGETS.items():
        for length in lengths:
            ours, ref = _get(store, layer, backend, length), _get(store, layer, "reference", length)
            add(f"{NAMES[layer]} {backend} fwd+bwd ÷ reference, L {length}",
                _ratio(_median(ours, "fwdbwd"), _median(ref, "fwdbwd")), limit)
    for layer in LAYERS:
        for length in lengths:
            times = {b: _median(_get(store, layer, b, length), "fwdbwd") for b in BACKENDS}
            times = {b: t for b, t in times.items() if t}
            if len(times) == len(BACKENDS):
                slow, fast = max(times, key=times.get), min(times, key=times.get)
                add(f"{NAMES[layer]} slowest ({slow}) ÷ fastest ({fast}) backend, L {length}",
                    times[slow] / times[fast], 2.0)
    for layer in LAYERS:
        ref = _get(store, layer, "reference", MAIN_L)
        for backend in BACKENDS:
            add(f"{NAMES[layer]} {backend} first fwd+bwd call ÷ reference's, L {MAIN_L}",
                _ratio(_first(_get(store, layer, backend, MAIN_L)), _first(ref)), 0.5)
    long_l = max(lengths, default=0)
    for layer in LAYERS:
        ref = _get(store, layer, "reference", long_l)
        for backend in BACKENDS:
            add(f"{NAMES[layer]} {backend} fwd+bwd run memory ÷ reference's, L {long_l}",
                _ratio(_run_mb(_get(store, layer, backend, long_l)), _run_mb(ref)), 0.5)
    if MAIN_L in lengths and long_l > MAIN_L:
        growth = long_l / MAIN_L * math.log(long_l) / math.log(MAIN_L)
        for layer in LAYERS:
            for backend in BACKENDS:
                add(f"{NAMES[layer]} {backend} fwd+bwd L {long_l} ÷ L {MAIN_L} (L log L: {growth:.2f})",
                    _ratio(_median(_get(store, layer, backend, long_l), "fwdbwd"),
                           _median(_get(store, layer, backend, MAIN_L), "fwdbwd")), growth)
    for layer in LAYERS:
        for backend in BACKENDS:
            for length in lengths:
                bf16 = _median(_get(store, layer, backend, length, "mixed_bfloat16"), "fwdbwd")
                add(f"{NAMES[layer]} {backend} mixed_bfloat16 ÷ float32 fwd+bwd, L {length}",
                    _ratio(bf16, _median(_get(store, layer, backend, length), "fwdbwd")), 1.0)
    return rows


def render_targets(store):
    rows = targets(store)
    met = sum(row[3] for row in rows)
    lines = [
        f"{met} of {len(rows)} targets met.\n",
        "| target | measured | at most | met |",
        "|---|---|---|---|",
        *(f"| {what} | {value:.2f} | {limit:.2f} | {'yes' if ok else '**no**'} |"
          for what, value, limit, ok in rows),
    ]
    return "\n".join(lines)


def write_markdown(store, path):
    path.write_text(
        "# keras_ssm layer benchmark (CPU)\n\n"
        f"B = {B}, H = {H}, state_dim = {STATE_DIM}, float32 unless marked bf16 (`mixed_bfloat16`); "
        f"medians after {WARMUP} warm-up calls ({CALLS} timed calls, {CALLS_LONG} at L ≥ {LONG} or "
        "with `--quick`). MB = MiB. **reference** rows: the official repositories' algorithms "
        "re-implemented in their own framework (`benchmarks/references.py`) with the same "
        "parameters, in the same run; the ÷ ref columns divide by them. step µs: one streaming "
        f"`layer.step` of the whole batch (median over calls of {STEPS_PER_CALL} steps). fwd+bwd run "
        "MB: the resident memory one fwd+bwd call adds at run time, compilation excluded (its second "
        "call in a fresh process); peak − build: the process's peak minus its size once built, "
        "compilation included. other cores: "
        "cores other processes used during the timed calls. Written by `python -m benchmarks "
        "layers`; the columns are described in `benchmarks/README.md`, the raw numbers (min, "
        "warm-up calls, load, code version) are in `layers.json`.\n\n"
        "## Targets (issue #7)\n\n" + render_targets(store) + "\n\n"
        "## Measurements\n\n" + render_table(store) + "\n\n"
        "![fwd+bwd time against L](layers.png)\n"
    )


def plot(store, path):
    """Log-log fwd+bwd time against L, one panel per backend, the references
    dashed in every panel (they run in their own framework)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(BACKENDS), figsize=(15, 4.5), sharey=True)
    colors = dict(zip(LAYERS, ("tab:blue", "tab:orange", "tab:green", "tab:red")))

    def series(layer, backend, policy="float32"):
        points = sorted(
            (e["L"], _median(e, "fwdbwd")) for e in store["configs"].values()
            if e["layer"] == layer and e["backend"] == backend and e.get("policy", "float32") == policy
            and _median(e, "fwdbwd")
        )
        return [p[0] for p in points], [p[1] for p in points]

    for ax, backend in zip(axes, BACKENDS):
        for layer in LAYERS:
            for source, style, label in ((backend, "-o", NAMES[layer]), ("reference", "--", f"{NAMES[layer]} reference")):
                xs, ys = series(layer, source)
                if xs:
                    ax.plot(xs, ys, style, color=colors[layer], label=label)
            xs, ys = series(layer, backend, "mixed_bfloat16")
            if xs:
                ax.plot(xs, ys, ":^", color=colors[layer], label=f"{NAMES[layer]} bf16")
        ax.set(xscale="log", yscale="log", title=f"keras_ssm on {backend}", xlabel="sequence length L")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("forward + backward, ms (B 8, H 128)")
    axes[-1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(store, out):
    write_markdown(store, out / "layers.md")
    try:
        plot(store, out / "layers.png")
    except ImportError:
        print("matplotlib is not installed: no layers.png (pip install -e .[plot])")
