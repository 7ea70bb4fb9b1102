import pytest

import keras_ssm.data as data
from keras_ssm.data import listops, pathfinder


def test_load_dispatches_to_the_task_loader(tmp_path):
    listops.write_dataset(tmp_path, 4, 2, 2, min_length=10, max_length=60)
    loaded = data.load("listops", tmp_path, batch_size=2, max_length=64)
    assert isinstance(loaded, data.TaskData)
    assert loaded.task == "listops" and loaded.max_length == 64
    assert loaded["train"] is loaded.train
    with pytest.raises(KeyError, match="split"):
        loaded["dev"]
    assert "listops" in repr(loaded)


def test_aliases_carry_their_presets(tmp_path):
    pathfinder.write_dataset(tmp_path, 32, n=10)
    assert data.load("pathfinder32", tmp_path).input_shape == (1024, 1)
    with pytest.raises(FileNotFoundError, match="pathfinder"):
        data.load("pathx", tmp_path)  # presets size=128: no pathfinder128 folder here
    assert data.load("pathx", tmp_path, size=32).max_length == 1024  # presets can be overridden


def test_unknown_task_lists_the_tasks():
    with pytest.raises(ValueError, match="unknown task 'mnist'.*listops"):
        data.load("mnist", "anywhere")


@pytest.mark.parametrize("task", sorted(data.TASKS))
def test_every_task_explains_a_missing_folder(task, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        data.load(task, tmp_path / "missing")
    message = str(error.value)
    assert "Expected layout" in message and "Where the data comes from" in message
    assert "missing" in message  # names the folder it looked in


def test_data_dir_is_required():
    with pytest.raises(ValueError, match="data_dir"):
        data.load("text", None)
