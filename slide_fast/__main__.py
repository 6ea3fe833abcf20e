"""``python -m slide_fast``: the ``slide`` command line (both backends)."""
import sys

from slide_fast.cli import main

sys.exit(main())
