# Running `python -m keras_ssm` is not a doctest.
collect_ignore = ["keras_ssm/__main__.py"]
