import sys

from lib_depth3d.cli import main

sys.exit(main())
