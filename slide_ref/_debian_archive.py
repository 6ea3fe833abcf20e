"""Debian's archive through apt: package lists, package downloads and deb822 parsing.

The real data sets of :mod:`slide_ref.debian_data` are built at run time from
what apt can reach, and never shipped (their licences vary).  Three things are
needed from the archive:

* the package lists apt keeps in ``/var/lib/apt/lists``: ``*_Packages`` (one
  deb822 stanza per binary package: name, source, relations, short
  description, debtags) and ``*_Translation-en`` (the long descriptions, keyed
  by ``Description-md5``; apt only fetches them with
  ``apt-get update -o Acquire::Languages=en``);
* single packages, fetched with ``apt-get download`` (no root, no install)
  and unpacked with ``dpkg-deb -x``;
* a way to say clearly what failed when the archive cannot be reached:
  :class:`ArchiveUnavailableError`, naming the command and the fix.

Every external command goes through :func:`run_command`, one place the tests
replace to simulate apt without a network.
"""
import bz2
import contextlib
import gzip
import lzma
import os
import re
import shutil
import subprocess
import tempfile

__all__ = ["ArchiveUnavailableError", "run_command", "DEFAULT_LISTS_DIR", "list_files",
           "ensure_lists", "read_list", "parse_stanzas", "read_packages",
           "read_long_descriptions", "description_text", "relation_names", "source_name",
           "package_texts", "read_package_file", "fetch_package", "unpacked"]

#: Where apt keeps the package lists it downloaded.
DEFAULT_LISTS_DIR = "/var/lib/apt/lists"

#: The apt command that fetches the lists with the English long descriptions.
UPDATE_COMMAND = ("apt-get", "update", "-o", "Acquire::Languages=en")

_COMPRESSED = r"(?:\.(?:gz|xz|bz2|lz4|zst))?"
_LIST_PATTERNS = {
    "Packages": re.compile(r"_Packages" + _COMPRESSED + r"$"),
    "Translation-en": re.compile(r"_Translation-en" + _COMPRESSED + r"$"),
}


class ArchiveUnavailableError(RuntimeError):
    """The Debian archive (or a package in it) could not be reached through apt.

    ``command`` is the command that failed, as a string; the message says why
    and how to fix it.
    """

    def __init__(self, command, problem, fix):
        self.command = command
        super().__init__(f"`{command}` failed: {problem}. {fix}")


def run_command(args, cwd=None):
    """Run ``args`` and return ``(returncode, output)`` (stdout and stderr as text).

    The one gate to external programs; raises ``FileNotFoundError`` when the
    program is not installed.
    """
    proc = subprocess.run(list(args), cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def _run_checked(args, fix, cwd=None):
    """Run an apt/dpkg command; any failure becomes :class:`ArchiveUnavailableError`."""
    command = " ".join(args)
    try:
        code, output = run_command(args, cwd=cwd)
    except FileNotFoundError:
        raise ArchiveUnavailableError(
            command, f"{args[0]} is not installed (a Debian-based system is needed)",
            fix) from None
    if code != 0:
        tail = " | ".join(line for line in output.strip().splitlines()[-3:] if line)
        raise ArchiveUnavailableError(command, f"exit status {code} ({tail or 'no output'})",
                                      fix)
    return output


_NETWORK_FIX = ("Check that this machine reaches the Debian archive (run the command by hand; "
                "see /etc/apt/sources.list*), or build the set on a machine that does and copy "
                "the cache folder (SLIDE_DATA) here.")


# ----------------------------------------------------------------------------- lists
def list_files(lists_dir, kind):
    """Sorted paths of the ``kind`` lists (``"Packages"`` or ``"Translation-en"``)."""
    pattern = _LIST_PATTERNS[kind]
    try:
        names = os.listdir(lists_dir)
    except FileNotFoundError:
        return []
    return [os.path.join(lists_dir, n) for n in sorted(names) if pattern.search(n)]


def ensure_lists(lists_dir=DEFAULT_LISTS_DIR):
    """Make sure the Packages and English Translation lists exist, running apt's update once.

    Returns ``(packages_files, translation_files)``.  The update runs only when
    one kind is missing, so a build depends on the lists already present.
    """
    found = {kind: list_files(lists_dir, kind) for kind in _LIST_PATTERNS}
    if all(found.values()):
        return found["Packages"], found["Translation-en"]
    fix = ("Run it as root (it refreshes apt's package lists, with the English long "
           "descriptions) on a machine that reaches the Debian archive. " + _NETWORK_FIX)
    _run_checked(UPDATE_COMMAND, fix)
    found = {kind: list_files(lists_dir, kind) for kind in _LIST_PATTERNS}
    missing = [kind for kind, files in found.items() if not files]
    if missing:
        raise ArchiveUnavailableError(
            " ".join(UPDATE_COMMAND),
            f"it ran, but {lists_dir} still holds no {' and no '.join(missing)} list",
            "Enable a Debian source with the 'main' component in /etc/apt/sources.list*, or "
            "pass lists_dir= pointing at a folder of apt lists.")
    return found["Packages"], found["Translation-en"]


def read_list(path):
    """The text of one apt list file, decompressed by its suffix.

    apt may store lists compressed (lz4 on many images); lz4 and zstd go through
    ``apt-helper cat-file``, which reads every format apt writes.
    """
    openers = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}
    suffix = os.path.splitext(path)[1]
    if suffix in openers:
        with openers[suffix](path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    if suffix in (".lz4", ".zst"):
        return _run_checked(("/usr/lib/apt/apt-helper", "cat-file", path),
                            "apt-helper (package 'apt') decompresses apt's lists; install apt "
                            "or store the lists uncompressed.")
    with open(path, "rb") as fh:
        return fh.read().decode("utf-8", "replace")


def parse_stanzas(text):
    """Parse deb822 text into a list of ``{field: value}`` dicts.

    Continuation lines (starting with a space or tab) are appended to the
    field's value after a newline, without their first space, so a
    description keeps its line structure (``" ."`` becomes ``"."``).
    """
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields, last = {}, None
        for line in block.split("\n"):
            if not line or line.startswith("#"):
                continue
            if line[0] in " \t":
                if last is not None:
                    fields[last] += "\n" + line[1:]
                continue
            name, sep, value = line.partition(":")
            if sep:
                last = name.strip()
                fields[last] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def read_packages(paths):
    """``{package name: stanza}`` over the Packages lists ``paths``.

    A name in several lists keeps its stanza from the first file in sorted
    name order (Debian's list names sort ``bookworm-security`` and
    ``bookworm-updates`` before ``bookworm``, so the updated stanza wins).
    """
    packages = {}
    for path in sorted(paths):
        for stanza in parse_stanzas(read_list(path)):
            name = stanza.get("Package")
            if name and name not in packages:
                packages[name] = stanza
    return packages


def read_long_descriptions(paths):
    """``{Description-md5: description}`` over the Translation-en lists ``paths``.

    The description is the ``Description-en`` value: the short description on
    its first line, then the long one (deb822 layout).
    """
    descriptions = {}
    for path in sorted(paths):
        for stanza in parse_stanzas(read_list(path)):
            md5, text = stanza.get("Description-md5"), stanza.get("Description-en")
            if md5 and text is not None and md5 not in descriptions:
                descriptions[md5] = text
    return descriptions


def description_text(description):
    """Plain text of a deb822 description: ``"."`` lines become paragraph breaks."""
    lines = [("" if line.strip() == "." else line.strip()) for line in description.split("\n")]
    return "\n".join(lines).strip()


_VERSION_OR_ARCH = re.compile(r"\(.*?\)|\[.*?\]|<.*?>")


def relation_names(value, alternatives="first"):
    """Package names in a relation field (``Depends`` and the like).

    Versions ``(>= 1.0)``, architecture lists ``[amd64]``, build profiles
    ``<!nocheck>`` and qualifiers ``:any`` are stripped.  Of alternatives
    ``a | b`` only the first is kept with ``alternatives="first"`` (the one apt
    installs by default), every one with ``"all"``.  Names keep their first
    appearance order, without repeats.
    """
    if alternatives not in ("first", "all"):
        raise ValueError(f"alternatives must be 'first' or 'all', got {alternatives!r}")
    names = []
    for group in _VERSION_OR_ARCH.sub(" ", value or "").split(","):
        options = [opt.strip().split(":")[0] for opt in group.split("|")]
        options = [opt.split()[0] for opt in options if opt.split()]
        for name in options[:1] if alternatives == "first" else options:
            if name not in names:
                names.append(name)
    return names


def source_name(stanza):
    """The source package a binary stanza was built from (``Source``, else its own name)."""
    source = stanza.get("Source", "").split()
    return source[0] if source else stanza["Package"]


# ----------------------------------------------------------------------------- packages
def package_texts(packages, descriptions):
    """``{package: text}``: the short + long description of every described package.

    The long description comes from the Translation-en lists (``descriptions``,
    keyed by ``Description-md5``), else the Packages stanza's short one.
    """
    texts = {}
    for name, stanza in packages.items():
        text = descriptions.get(stanza.get("Description-md5", ""), stanza.get("Description"))
        if text:
            texts[name] = description_text(text)
    return texts


def read_package_file(path):
    """Text of a file unpacked from a package (``.gz`` and dictzip ``.dz`` decompressed)."""
    opener = gzip.open if path.endswith((".gz", ".dz")) else open
    with opener(path, "rb") as fh:
        return fh.read().decode("utf-8", "replace")


def fetch_package(name, debs_dir):
    """Path of ``name``'s .deb in ``debs_dir``, downloaded with ``apt-get download`` if absent."""
    os.makedirs(debs_dir, exist_ok=True)
    found = _debs_of(name, debs_dir)
    if not found:
        fix = (f"Check the package name ('apt-cache policy {name}' must show a candidate; "
               "if not, run 'apt-get update -o Acquire::Languages=en' as root). " + _NETWORK_FIX)
        _run_checked(("apt-get", "download", name), fix, cwd=debs_dir)
        found = _debs_of(name, debs_dir)
        if not found:
            raise ArchiveUnavailableError(f"apt-get download {name}",
                                          f"no {name}_*.deb appeared in {debs_dir}",
                                          "Check the folder is writable.")
    return found[-1]


def _debs_of(name, debs_dir):
    return sorted(os.path.join(debs_dir, f) for f in os.listdir(debs_dir)
                  if f.startswith(name + "_") and f.endswith(".deb"))


@contextlib.contextmanager
def unpacked(name, debs_dir):
    """Context manager: the root of ``name``'s files, unpacked in a temporary folder.

    The folder is removed on exit; only the .deb stays cached.
    """
    deb = fetch_package(name, debs_dir)
    root = tempfile.mkdtemp(prefix=f".{name}-", dir=debs_dir)
    try:
        _run_checked(("dpkg-deb", "-x", deb, root),
                     f"Delete {deb} (it may be truncated) and run again.")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
