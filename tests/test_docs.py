"""The documentation runs: every ```python block of README.md and docs/*.md,
README.md's presets table equals the generated one, and the README's two
commands are the ones the scripts and CI run.

The blocks of one file run in order in one namespace (a later block may use
what an earlier one defined), in a fresh temporary directory. A block that
cannot run in a test is written as ```bash (or another language) instead.
"""

import importlib.util
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# docs/zoo/*.md hold no python blocks; test them too if they ever do.
DOCS += [path for path in sorted((REPO / "docs").glob("*/*.md")) if "```python" in path.read_text("utf-8")]
BLOCK = re.compile(r"^```python\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)


def python_blocks(path):
    """The ```python blocks of a Markdown file, with the line each starts on."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 2, match.group(1)) for match in BLOCK.finditer(text)]


def _zoo_table():
    spec = importlib.util.spec_from_file_location("zoo_table", REPO / "scripts" / "zoo_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_blocks_are_found():
    assert len(python_blocks(REPO / "README.md")) >= 4
    assert python_blocks(REPO / "docs" / "layers.md")


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_python_blocks_run(path, tmp_path, monkeypatch):
    blocks = python_blocks(path)
    if not blocks:
        pytest.skip(f"{path.relative_to(REPO)} has no python block")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for line, source in blocks:
        code = compile(source, f"{path.relative_to(REPO)}:{line}", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation's own examples


def test_readme_table_is_the_generated_one():
    zoo_table = _zoo_table()
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert zoo_table.readme_section(text) == zoo_table.readme_table(), (
        "README.md's presets table is out of date: run `python scripts/zoo_table.py --readme`"
    )


def test_readme_table_shows_each_interval_as_the_metadata_states_it():
    from keras_ssm import zoo
    from keras_ssm.intervals import format_interval

    table = _zoo_table().readme_table()
    for name in zoo.list_presets():
        metrics = zoo.describe(name)["metrics"]
        row = next(line for line in table.splitlines() if line.startswith(f"| [`{name}`]"))
        assert f"{100 * metrics['accuracy']:.2f} % {format_interval(metrics['accuracy_interval'])}" in row
        assert f"(zoo/{name}/README.md)" in row and (REPO / "zoo" / name / "README.md").is_file()


def test_readme_two_commands_are_the_scripts_and_ci_runs_the_second():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### The two commands", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| **")]
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == ["`bash scripts/demo.sh`", "`bash scripts/test.sh`"]
    assert "exec bash scripts/test.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_is_small_and_its_links_resolve():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 12_000
    for path in DOCS + [REPO / "CHANGELOG.md", REPO / "CONTRIBUTING.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)\)", path.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (path.parent / target).exists(), f"{path.relative_to(REPO)}: broken link {target}"

