import sys

from keras_ssm.cli import main

sys.exit(main())
