import sys

from keras_ssm.data.listops.cli import main

sys.exit(main())
