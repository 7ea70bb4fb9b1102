"""The rule that picks the FSDD presets' recipe among validation candidates,
fixed (and tested) before any candidate was trained."""

from keras_ssm.zoo.publishing import choose_candidate, recipe_core


def test_the_goal_at_4_khz_first_then_the_best_at_8_khz():
    # One reaches 93 % zero-shot: it is kept even though the other is better at 8 kHz.
    assert choose_candidate([{"accuracy": 0.99, "accuracy_4000hz": 0.80}, {"accuracy": 0.98, "accuracy_4000hz": 0.93}]) == 1
    # Both reach it: the better at 8 kHz.
    assert choose_candidate([{"accuracy": 0.99, "accuracy_4000hz": 0.94}, {"accuracy": 0.98, "accuracy_4000hz": 0.97}]) == 0
    # A tie at 8 kHz goes to the earlier (simpler) candidate.
    assert choose_candidate([{"accuracy": 0.99, "accuracy_4000hz": 0.94}, {"accuracy": 0.99, "accuracy_4000hz": 0.97}]) == 0
    # None reaches it: the best at 4 kHz.
    assert choose_candidate([{"accuracy": 0.99, "accuracy_4000hz": 0.80}, {"accuracy": 0.97, "accuracy_4000hz": 0.90}]) == 1


def test_a_recipe_is_compared_without_its_name_and_data_path():
    a = {"name": "a", "seed": 0, "data": {"task": "fsdd", "path": "/x"}, "warm_start_sha256": None}
    b = {"name": "b", "seed": 0, "data": {"task": "fsdd", "path": "../y"}}
    assert recipe_core(a) == recipe_core(b)
    assert recipe_core(a) != recipe_core({**b, "seed": 1})
