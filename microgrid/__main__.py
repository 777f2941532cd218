import sys

from microgrid.cli import main

sys.exit(main())
