"""Counter-based random numbers (splitmix64), identical in both backends.

A draw is a pure function of ``(seed, a, b, c)``: the seed of the object that
draws, and up to three counters saying which draw this is (for example the
table, the build and the item).  Because no state is carried from one draw to
the next, results do not depend on the order in which threads run, and the
NumPy and Cython kernels produce the same numbers.

All arithmetic is on ``uint64`` and wraps modulo 2**64, as in C.
"""
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x):
    """The splitmix64 output function of ``x + golden ratio`` (vectorised, wraps)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + GOLDEN
        z = (z ^ (z >> np.uint64(30))) * MIX1
        z = (z ^ (z >> np.uint64(27))) * MIX2
        return z ^ (z >> np.uint64(31))


def counter_hash(seed, a, b=0, c=0):
    """64 random bits for the draw ``(a, b, c)`` of the stream ``seed``.

    Chains splitmix64 over the words, so each word changes every output bit.
    Arguments broadcast like NumPy arrays.
    """
    h = splitmix64(np.uint64(seed))
    for word in (a, b, c):
        h = splitmix64(h ^ np.asarray(word).astype(np.uint64))
    return h


def counter_uniform(seed, a, b=0, c=0):
    """Uniform floats in [0, 1) with 53 random bits."""
    return (counter_hash(seed, a, b, c) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def counter_randint(seed, a, b, c, n):
    """Integers uniform in ``[0, n)`` for ``1 <= n < 2**32`` (multiply-shift, no modulo bias
    beyond 2**-32)."""
    n = np.asarray(n, dtype=np.uint64)
    high = counter_hash(seed, a, b, c) >> np.uint64(32)
    with np.errstate(over="ignore"):
        return ((high * n) >> np.uint64(32)).astype(np.int64)
