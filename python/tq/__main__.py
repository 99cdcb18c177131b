"""``python3 -m tq``: the command line (see tq/_cli.py)."""

import sys

from tq._cli import main

if __name__ == "__main__":
    sys.exit(main())
