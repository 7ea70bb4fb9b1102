"""One publishing path: every bundled preset's card is the one rendered from
its metadata, a card refresh touches nothing but the card, and the library
depends on neither scripts/ nor tests/."""

import ast
import json
import os
import pathlib
import shutil

import pytest

import keras_ssm
from keras_ssm import zoo
from keras_ssm.cli import main as cli_main
from keras_ssm.zoo import cards, publishing
from keras_ssm.zoo import publish_families as families
from keras_ssm.zoo.verify import sha256_file

ROOT = pathlib.Path(keras_ssm.__file__).parent.parent


def metadata_of(name):
    return json.loads((pathlib.Path(zoo.preset_path(name)) / "metadata.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", zoo.list_presets())
def test_the_card_is_the_one_rendered_from_the_metadata(name):
    folder = pathlib.Path(zoo.preset_path(name))
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert cards.render(metadata_of(name)) == card, (
        f"zoo/{name}/README.md is not its metadata's card: run `python -m keras_ssm zoo publish cards {name}`")


@pytest.mark.parametrize("name", ["speech_commands12_s5", "speech_commands12_s4d"])
def test_the_keyword_card_shows_the_benchmark_it_was_published_with(name):
    # `zoo publish speech_commands --detection-only` writes what the card shows from the preset's benchmark JSON
    # (its run at noise volume 0.1; S4D's has no timings, so its card has no Streaming section).
    metadata = metadata_of(name)
    card = (pathlib.Path(zoo.preset_path(name)) / "README.md").read_text(encoding="utf-8")
    path = publishing.keyword_benchmark_file(name, folder=str(ROOT / families.KEYWORD_BENCHMARKS))
    benchmark = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    detection, streaming, choices = publishing.detection_metadata(name, benchmark)
    assert ("## Streaming" in card) == ("real_time_factor" in streaming)
    again = {**metadata, "detection": detection, "streaming": streaming,
             "choices": publishing.with_detection_choices(metadata["choices"], choices)}
    assert cards.render(again) == card


def test_a_card_refresh_rewrites_the_card_and_its_sha256_only(tmp_path):
    folder = tmp_path / "lra_text_s4d"
    shutil.copytree(zoo.preset_path("lra_text_s4d"), folder)
    (folder / "README.md").write_text("an old card\n", encoding="utf-8")
    before = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    before["files"]["README.md"] = sha256_file(folder / "README.md")
    (folder / "metadata.json").write_text(json.dumps(before), encoding="utf-8")
    kept = {file: sha256_file(folder / file) for file in ("config.json", "model.weights.h5", "learning_curve.png")}

    assert publishing.refresh_card(str(folder)) is True
    after = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert (folder / "README.md").read_text(encoding="utf-8") == cards.render(after)
    assert after["files"]["README.md"] == sha256_file(folder / "README.md")
    assert {k: v for k, v in after.items() if k != "files"} == {k: v for k, v in before.items() if k != "files"}
    assert {file: sha256_file(folder / file) for file in kept} == kept
    assert publishing.refresh_card(str(folder)) is False  # rendered already: nothing to do
    zoo.load(str(folder))  # verifies


def test_zoo_publish_cards_from_the_command_line(tmp_path, monkeypatch, capsys):
    shutil.copytree(zoo.preset_path("lra_text_s4d"), tmp_path / "lra_text_s4d")
    monkeypatch.chdir(tmp_path)  # publishing works from the clone's root whatever the current directory
    assert cli_main(["zoo", "publish", "cards", "lra_text_s4d", "--out", str(tmp_path)]) == 0
    assert "lra_text_s4d: card unchanged" in capsys.readouterr().out


def test_the_stage_table_names_each_stage_of_one_recipe():
    stages = [{"recipe": "examples/recipes/x.json", "stage": k, "epochs": 2, "best_epoch": 1,
               "best_val_accuracy": 0.5, "seconds": 60, "tokens_per_second": 1000, "hardware": "here"}
              for k in (1, 2)]
    table = cards.stage_table(stages, families.LRA).splitlines()
    assert table[2] == "| 1 | `examples/recipes/x.json` stage 1 | 2 | 1 | 50.00 % | 1 min | 1,000 | here |"
    assert table[3].startswith("| 2 | `examples/recipes/x.json` stage 2 |")


def test_stage_folders_in_stage_order(tmp_path):
    for folder in ("p", "p_stage2", "p_stage10", "p_stage3", "p_stageX", "other"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "best.keras").write_bytes(b"")
    (tmp_path / "p_stage3" / "best.keras").unlink()  # not trained: no stage
    assert publishing.stage_folders(str(tmp_path), "p") == [
        (1, str(tmp_path / "p")), (2, str(tmp_path / "p_stage2")), (10, str(tmp_path / "p_stage10"))]


def test_a_stage_record_names_the_recipe_and_its_stage():
    recipe = {"seed": 1, "epochs": 5, "model": {}, "optimizer": {}, "data": {"task": "text", "path": "/data"},
              "warm_start": "runs/p/best.keras", "warm_start_sha256": "ab" * 32}
    summary = {"epochs": 3, "planned_epochs": 5, "best_epoch": 2, "best_val_accuracy": 0.5, "seconds": 10.0}
    record = publishing.stage_record("p", 2, summary, recipe)
    assert (record["recipe"], record["stage"], record["stopped_after"]) == ("examples/recipes/p.json", 2, "3 of 5 epochs")
    assert record["spec"]["data"] == {"task": "text"}  # where the data lay is no part of the recipe
    assert record["warm_start_sha256"] == "ab" * 32
    assert publishing.replay_command("p") == "python -m keras_ssm train examples/recipes/p.json --out runs/p"


def test_every_preset_belongs_to_a_family():
    for name in zoo.list_presets():
        assert families.family_of(metadata_of(name)).name in cards.SECTIONS
    with pytest.raises(ValueError, match="data.task 'mnist' belongs to no preset family"):
        families.family_of({"data": {"task": "mnist"}})


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_the_library_and_the_tools_import_neither_scripts_nor_tests():
    paths = [*ROOT.joinpath("keras_ssm").rglob("*.py"), *ROOT.joinpath("benchmarks").glob("*.py"),
             *ROOT.joinpath("scripts").glob("*.py")]
    offenders = sorted(str(path.relative_to(ROOT)) for path in paths
                       if any(name.split(".")[0] in ("tests", "scripts") or name.startswith("publish_")
                              for name in _imports(path)))
    assert offenders == []
    # A publishing script left in scripts/ only forwards to `python -m keras_ssm zoo publish`.
    own = [path.name for path in ROOT.joinpath("scripts").glob("publish_*.py")
           if any(isinstance(node, ast.FunctionDef) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert own == []


def _published_stage(best, seed=0):
    recipe = {"seed": seed, "epochs": 3, "model": {"layer": "s4d"}, "optimizer": {"lr": 0.002},
              "data": {"task": "sc12", "path": "/data"}}
    return recipe, {"best_val_accuracy": best, "spec": publishing.stage_spec(recipe)}


def test_a_new_keyword_recipe_replaces_the_preset_only_when_higher_on_validation(tmp_path):
    published_recipe, stage = _published_stage(0.9057)
    folder = tmp_path / "speech_commands12_s4d"
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps({"training": {"stages": [stage]}}))
    candidate = dict(published_recipe, seed=3, pretrain={"epochs": 20})
    # The published recipe's own runs republish whatever their figure.
    assert publishing.replacement_choices(folder.name, [{"best_val_accuracy": 0.5}], [published_recipe],
                                          str(tmp_path)) == []
    for tie_or_lower in (0.9057, 0.9):
        with pytest.raises(SystemExit, match="the preset stays"):
            publishing.replacement_choices(folder.name, [{"best_val_accuracy": tie_or_lower}], [candidate],
                                           str(tmp_path))
    choices = publishing.replacement_choices(folder.name, [{"best_val_accuracy": 0.9094}], [candidate], str(tmp_path))
    assert [c["split"] for c in choices] == ["validation", "test"]
    assert "90.94 %" in choices[0]["decision"] and "90.57 %" in choices[0]["decision"]
    assert "self-pretraining (20 epochs" in choices[1]["decision"]
    # Nothing published yet: nothing to replace.
    assert publishing.replacement_choices("speech_commands12_s5", [{"best_val_accuracy": 0.1}], [candidate],
                                          str(tmp_path)) == []


def test_a_detection_refresh_keeps_config_and_weights_and_reproduces_the_published_s4d(tmp_path, monkeypatch):
    # `zoo publish speech_commands --detection-only --layers s4d` on a copy of the preset re-writes the same
    # metadata, card and plot (from benchmarks/results/keyword_spotting_speech_commands12_s4d.*), weights untouched.
    shutil.copytree(zoo.preset_path("speech_commands12_s4d"), tmp_path / "speech_commands12_s4d")
    monkeypatch.chdir(ROOT)
    publishing.refresh_detection("s4d", str(tmp_path))
    for file in ("config.json", "model.weights.h5", "metadata.json", "README.md", "detection.png"):
        assert sha256_file(tmp_path / "speech_commands12_s4d" / file) == sha256_file(
            pathlib.Path(zoo.preset_path("speech_commands12_s4d")) / file), file
