"""The ``slide`` command: the command line of :mod:`slide_ref.cli` with both backends.

``slide_ref`` never imports this package, so its command line takes the
backends from its caller; this module is that caller.  The ``slide`` console
script (``setup.cfg``) and ``python -m slide_fast`` run :func:`main`.
"""
import sys

import slide_ref
from slide_ref import cli as _cli

import slide_fast

__all__ = ["BACKENDS", "main"]

#: the packages that ``--backend`` names
BACKENDS = {"ref": slide_ref, "fast": slide_fast}


def main(argv=None):
    """Run ``slide`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    return _cli.main(argv, backends=BACKENDS)


if __name__ == "__main__":
    sys.exit(main())
