import sys

from sightsound.cli import main

sys.exit(main())
