import sys

from keras_ssm.data.pathfinder.cli import main

sys.exit(main())
