"""Writes `benchmarks/zoo.md`: the bundled presets beside the papers' numbers.

    .venv/bin/python scripts/zoo_table.py

Our figures come from each preset's `metadata.json` (measured by its
publisher on the task's full test split); the papers' from
`../shared/research/anchors-ssm.md` (§2.11 LRA table, §3.4 DSS README).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from keras_ssm import zoo  # noqa: E402
from keras_ssm.zoo.cards import accuracy_cell  # noqa: E402

OUT = os.path.join(ROOT, "benchmarks", "zoo.md")
# LRA test accuracy (%): DSS-softmax (ag1988/dss README), S4D-LegS (S4D paper), S5 (S5 paper).
LRA = {
    "listops": ("ListOps (L 2,000)", 60.6, 60.47, 62.15),
    "text": ("Text: IMDB bytes (L 4,096)", 84.8, 86.18, 89.31),
    "retrieval": ("Retrieval: AAN (L 4,000)", 87.8, 89.46, 91.40),
    "image": ("Image: grayscale CIFAR-10 (L 1,024)", 85.7, 88.19, 88.00),
    "pathfinder32": ("Pathfinder-32 (L 1,024)", 84.6, 93.06, 95.33),
    "pathx": ("Path-X (L 16,384)", 87.8, 91.95, 98.58),
}
# What the papers trained with (depth x width, epochs; the DSS README's A100 times).
PAPERS_COMPUTE = {
    "listops": "S4D 6 x 256, 40 ep; S5 8 x 128, 40 ep; DSS 6 x 128, 50 ep, 2 h on 1 A100",
    "text": "S4D 6 x 256, 32 ep; S5 6 x 256, 35 ep; DSS 4 x 128, 40 ep, 20 min on 1 A100",
    "retrieval": "S4D 6 x 256, 20 ep; S5 6 x 128, 20 ep; DSS 6 x 256, 25 ep, 9 h on 1 A100",
    "image": "S4D 6 x 512, 200 ep; S5 6 x 512, 250 ep; DSS 6 x 512, 200 ep, 6 h on 1 A100",
    "pathfinder32": "S4D 6 x 256, 200 ep; S5 6 x 192, 200 ep; DSS 6 x 256, 200 ep, 9 h on 1 A100",
    "pathx": "S5 6 x 128, 75 ep; DSS 6 x 256, 35 ep, 40 h on 1 A100",
}


def ours(meta):
    t, a = meta["training"], meta["architecture"]
    epochs = t.get("epochs") or sum(stage["epochs"] for stage in t["stages"])
    compute = (f"{a['depth']} x {a['width']}, {epochs} ep, {t['seconds'] / 60:.0f} min on {t['hardware']}"
               + (f", {t['tokens_per_second']:,} tokens/s" if "tokens_per_second" in t else ""))
    return f"`{meta['name']}` {accuracy_cell(meta['metrics'], 'accuracy')}", compute, f"{meta['parameters']:,}"


def main():
    metas = [zoo.describe(name) for name in zoo.list_presets()]
    lines = [
        "# The zoo beside the papers",
        "",
        "Written by `scripts/zoo_table.py` from the presets' metadata (test accuracy on each task's full test",
        "split, measured when the preset was published, with its Wilson 95 % interval in brackets;",
        "`python -m keras_ssm zoo evaluate NAME --data DIR` reproduces it) and the papers' tables",
        "(`../shared/research/anchors-ssm.md`). A preset's card lists its choices and the split each was made on.",
        "",
        "## Long Range Arena",
        "",
        "| task | keras_ssm preset | params | its compute | DSS | S4D-LegS | S5 | the papers' compute |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, (title, dss, s4d, s5) in LRA.items():
        trained = [m for m in metas if m.get("lra_task") == task]
        cells = [ours(m) for m in trained] or [("not trained yet", "-", "-")]
        for preset, compute, params in cells:
            lines.append(f"| {title} | {preset} | {params} | {compute} | {dss:.2f} | {s4d:.2f} | {s5:.2f} | "
                         f"{PAPERS_COMPUTE[task]} |")
    lines += [
        "",
        "## Speech",
        "",
        "| preset | task | params | test accuracy | zero-shot at half the rate | compute |",
        "|---|---|---|---|---|---|",
    ]
    for meta in metas:
        rate = meta["input"].get("sample_rate")
        if rate is None:
            continue
        half = f"accuracy_{rate // 2}hz"
        _, compute, params = ours(meta)
        lines.append(f"| `{meta['name']}` | {meta['data']['name'].split(' (')[0]} | {params} | "
                     f"{accuracy_cell(meta['metrics'], 'accuracy')} | "
                     f"{'-' if half not in meta['metrics'] else accuracy_cell(meta['metrics'], half) + f' at {rate // 2} Hz'}"
                     f" | {compute} |")
    lines.append("")
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
