import sys

from lib_depth3d.cli import main

sys.exit(main(prog="python -m lib_depth3d"))
