"""``python -m slide_ref``: the command line with the NumPy reference backend only."""
import sys

from slide_ref.cli import main

sys.exit(main())
