"""Moved: `python -m keras_ssm zoo publish fsdd [--runs] [--layers] [--out] [--candidates]` (keras_ssm.zoo.publishing)."""
import sys

from keras_ssm.cli import main
from keras_ssm.zoo.publishing import choose_candidate, recipe_core as _recipe_core  # noqa: F401  (test_fsdd_candidate_rule)

if __name__ == "__main__":
    sys.exit(main(["zoo", "publish", "fsdd", *sys.argv[1:]]))
