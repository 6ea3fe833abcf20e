"""What the real data sets share: the loaded-set container and a stable hash split."""
import hashlib
import types

__all__ = ["DataSet", "hash_fraction"]


class DataSet(types.SimpleNamespace):
    """A loaded set: arrays and metadata as attributes.

    Iterating yields the main arrays named in ``unpack`` (for example
    ``X, Y, Xt, Yt = load_debian_xc()``); ``stats`` is a dict of the set's
    statistics.
    """

    def __iter__(self):
        return iter([getattr(self, name) for name in self.unpack])


def hash_fraction(key):
    """A stable number in [0, 1) for a string, so splits do not depend on any order."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) / float(1 << 48)
