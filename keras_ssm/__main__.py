import os
import sys

# Keep TensorFlow's C++ start-up chatter out of the command line's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_ssm.cli import main  # noqa: E402

sys.exit(main())
