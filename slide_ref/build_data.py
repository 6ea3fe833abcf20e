"""Command line that builds slide's real data sets from Debian's archive (``make data``).

``python -m slide_ref.build_data --sets xc,text,fmnist,zsl [--cache-dir DIR] [--rebuild]``
builds each named set into the cache folder (or finds it there) and prints its
statistics; see :mod:`slide_ref.debian_data` and ``docs/data.md``.
"""
import argparse
import sys
import time

from . import _debian_archive as archive
from .debian_data import (load_debian_text, load_debian_xc, load_debtags_zsl, load_fashion_mnist,
                          load_fashion_zsl)

#: What ``--sets`` accepts: name -> the loaders that build it.
_SETS = {"xc": (load_debian_xc,), "text": (load_debian_text,),
         "fmnist": (load_fashion_mnist,), "zsl": (load_debtags_zsl, load_fashion_zsl)}


def main(argv=None):
    """Build (or check the cache of) the sets named by ``--sets``; print their statistics."""
    parser = argparse.ArgumentParser(
        prog="python -m slide_ref.build_data",
        description="Build slide's real data sets from Debian's archive into a cache folder.")
    parser.add_argument("--sets", default=",".join(_SETS),
                        help=f"comma-separated, among {','.join(_SETS)} (default: all)")
    parser.add_argument("--cache-dir", default=None,
                        help="cache root (default: $SLIDE_DATA or ~/.cache/slide)")
    parser.add_argument("--rebuild", action="store_true", help="build even when cached")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in names if n not in _SETS]
    if unknown:
        parser.error(f"unknown set(s) {unknown}; choose among {','.join(_SETS)}")
    try:
        for name in names:
            for loader in _SETS[name]:
                start = time.perf_counter()
                data = loader(cache_dir=args.cache_dir, rebuild=args.rebuild,
                              show_progress=True)
                print(f"{loader.__name__}: {time.perf_counter() - start:.1f}s {data.stats}",
                      flush=True)
    except archive.ArchiveUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
