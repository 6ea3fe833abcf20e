"""Rewrite the results tables of ``docs/*.md`` from the figures' JSON outputs.

A docs page marks each generated table with an opening and a closing comment::

    <!-- table:fig04 -->
    ...                      (replaced)
    <!-- /table -->

The key names the figure (``fig04``) and, for figures with several tables, the
table (``fig05:A``). For every key whose figure has a JSON in ``--out``
(``paper_figures/out/figNN_*.json``, written by ``python -m paper_figures.figNN_...``),
the block becomes the command that produced the JSON, the machine it ran on, and
the table the figure script renders from it (its ``doc_tables(data)``). Blocks
whose figure has not been run keep their text, and so do those whose JSON comes
from a ``--smoke`` run (unless ``--allow-smoke``).

The README's results table is filled the same way, row by row: a row whose last
cell names a key in backquotes (`` `fig06` ``, `` `fig05:A` ``) gets its result cell
from the figure script's ``summary(data)`` (``{key: text}``), when the figure has
a (non-smoke) JSON and defines ``summary``; other rows keep their text.

    python -m paper_figures.make_docs                 # paper_figures/out -> docs/, README.md
    python -m paper_figures.make_docs --check         # exit 1 if a page would change
"""
import argparse
import glob
import importlib
import json
import os
import re
import sys

from slide_bench.machine import describe

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "out")
DOCS_DIR = os.path.join(os.path.dirname(HERE), "docs")
BLOCK = re.compile(r"(<!-- table:(?P<key>[\w:.-]+) -->\n)(?P<body>.*?)(<!-- /table -->)",
                   re.DOTALL)


def load_results(out_dir):
    """``{figure: (module name, JSON data)}`` for every ``figNN_*.json`` in ``out_dir``."""
    found = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "fig[0-9][0-9]_*.json"))):
        stem = os.path.splitext(os.path.basename(path))[0]
        with open(path) as fh:
            found[stem.split("_")[0]] = (stem, json.load(fh))
    return found


def figure_tables(stem, data):
    """``{key: markdown}`` of one figure's JSON, rendered by the figure script itself."""
    module = importlib.import_module(f"paper_figures.{stem}")
    return module.doc_tables(data)


def render_block(table, meta):
    """A generated block: command, machine, then the table."""
    return (f"Command: `{meta['command']}`; machine: {describe(meta['machine'])}.\n\n"
            f"{table.strip()}\n")


def is_smoke(data):
    """Whether a JSON comes from a ``--smoke`` run (tiny sizes: not for the docs)."""
    return "--smoke" in data["meta"]["command"].split()


def generated_blocks(results, allow_smoke=False):
    """``{key: block text}`` for every table the available results can fill; ``--smoke``
    outputs are skipped unless ``allow_smoke``."""
    blocks = {}
    for stem, data in results.values():
        if "meta" not in data:
            raise ValueError(f"{stem}.json has no 'meta' (command and machine): rerun "
                             f"python -m paper_figures.{stem}")
        if is_smoke(data) and not allow_smoke:
            print(f"skipped {stem}.json: a --smoke run")
            continue
        for key, table in figure_tables(stem, data).items():
            blocks[key] = render_block(table, data["meta"])
    return blocks


def replace_blocks(text, blocks):
    """``text`` with every marked block whose key is in ``blocks`` replaced; also returns
    the keys replaced."""
    replaced = []

    def swap(m):
        key = m.group("key")
        if key not in blocks:
            return m.group(0)
        replaced.append(key)
        return m.group(1) + blocks[key] + m.group(4)

    return BLOCK.sub(swap, text), replaced


SUMMARY_ROW = re.compile(r"^\|(?P<first>[^|]*)\|(?P<result>[^|]*)\|(?P<last>[^|]*`"
                         r"(?P<key>fig\d\d(?::[\w.-]+)?)`[^|]*)\|\s*$", re.MULTILINE)


def summary_cells(results, allow_smoke=False):
    """``{key: result text}`` from every figure script that defines ``summary(data)``."""
    cells = {}
    for stem, data in results.values():
        if is_smoke(data) and not allow_smoke:
            continue
        module = importlib.import_module(f"paper_figures.{stem}")
        if hasattr(module, "summary"):
            cells.update(module.summary(data))
    return cells


def replace_summary_rows(text, cells):
    """``text`` with the result cell of every summary row whose key is in ``cells``
    replaced; also returns the keys replaced."""
    replaced = []

    def swap(m):
        key = m.group("key")
        if key not in cells:
            return m.group(0)
        replaced.append(key)
        return f"|{m.group('first')}| {cells[key].strip()} |{m.group('last')}|"

    return SUMMARY_ROW.sub(swap, text), replaced


def update_readme(path, cells, write=True):
    """Rewrite the summary rows of the README at ``path`` (if it exists); returns
    ``{path: keys replaced}`` when its text changed."""
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        text = fh.read()
    new, keys = replace_summary_rows(text, cells)
    if new == text:
        return {}
    if write:
        with open(path, "w") as fh:
            fh.write(new)
    return {path: keys}


def update_docs(docs_dir, blocks, write=True):
    """Rewrite every ``*.md`` of ``docs_dir``; returns ``{path: keys replaced}`` of the
    pages whose text changed."""
    changed = {}
    for path in sorted(glob.glob(os.path.join(docs_dir, "*.md"))):
        with open(path) as fh:
            text = fh.read()
        new, keys = replace_blocks(text, blocks)
        if new != text:
            changed[path] = keys
            if write:
                with open(path, "w") as fh:
                    fh.write(new)
    return changed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=OUT_DIR, help="directory of the figures' JSON outputs")
    p.add_argument("--docs", default=DOCS_DIR, help="directory of the docs pages")
    p.add_argument("--readme", help="the README whose summary rows to fill (default: "
                                    "README.md beside the docs directory)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a page would change")
    p.add_argument("--allow-smoke", action="store_true",
                   help="also use the outputs of --smoke runs (for testing the generator)")
    args = p.parse_args(argv)
    results = load_results(args.out)
    blocks = generated_blocks(results, allow_smoke=args.allow_smoke)
    changed = update_docs(args.docs, blocks, write=not args.check)
    readme = args.readme or os.path.join(os.path.dirname(os.path.abspath(args.docs)),
                                         "README.md")
    if os.path.exists(readme):
        changed.update(update_readme(readme, summary_cells(results, args.allow_smoke),
                                     write=not args.check))
    for path, keys in changed.items():
        print(f"{'would update' if args.check else 'updated'} {path}: {', '.join(keys)}")
    if not results:
        print(f"no figure outputs in {args.out}: the docs tables keep their text")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
