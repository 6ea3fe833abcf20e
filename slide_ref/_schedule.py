"""When to rehash and rebuild a sampled layer's hash tables (SLIDE section 1, "table update").

Two schedules, counted in training batches ``t = 0, 1, 2, ...``:

* ``"fixed"`` (the SLIDE code): rehash when ``t % R == R - 1`` with
  ``R = rehash_every // batch_size`` and rebuild when ``t % D == R - 1`` with
  ``D = rebuild_every // batch_size``, so rebuilds always fall on rehash batches.
* ``"exponential"`` (the SLIDE paper): the k-th rehash happens after
  ``sum_{i<k} N0 * exp(lambda * i)`` batches; the tables change quickly while
  the weights move fast early in training, then less and less often.
  Rebuilds keep the fixed period.
"""
import math

from ._validation import check_choice, check_float, check_int


class TableSchedule:
    """Decides, batch by batch, whether tables are rehashed and rebuilt.

    Parameters
    ----------
    batch_size : int
    rehash_every : int, default 6400
        Samples between rehashes (fixed schedule).
    rebuild_every : int, default 128000
        Samples between rebuilds with new hash functions; 0 never rebuilds.
    kind : {"fixed", "exponential"}
    first_period : int, default 50
        ``N0`` of the exponential schedule, in batches.
    growth : float, default 0.1
        ``lambda`` of the exponential schedule.
    """

    def __init__(self, batch_size, rehash_every=6400, rebuild_every=128000, kind="fixed",
                 first_period=50, growth=0.1):
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        self.rehash_every = check_int(rehash_every, "rehash_every", low=0)
        self.rebuild_every = check_int(rebuild_every, "rebuild_every", low=0)
        self.kind = check_choice(kind, "table_schedule", {"fixed", "exponential"})
        self.first_period = check_int(first_period, "first_period", low=1)
        self.growth = check_float(growth, "growth", low=0.0)
        self._next_exp = self.first_period - 1
        self._n_exp = 0

    @property
    def rehash_period(self):
        """Batches between rehashes of the fixed schedule (0: never)."""
        return max(1, self.rehash_every // self.batch_size) if self.rehash_every else 0

    def due(self, t):
        """``(rehash, rebuild)`` for batch ``t`` (call once per batch, in order)."""
        R = self.rehash_period
        D = max(1, self.rebuild_every // self.batch_size) if self.rebuild_every else 0
        rebuild = bool(D) and t % D == (R - 1 if R else D - 1) % D
        if self.kind == "fixed":
            rehash = bool(R) and t % R == R - 1
        else:
            rehash = False
            while t >= self._next_exp:
                rehash = rehash or t == self._next_exp
                self._advance()
        return rehash or rebuild, rebuild

    def _advance(self):
        """Move the exponential schedule to its next rehash."""
        self._n_exp += 1
        self._next_exp += max(1, int(round(self.first_period
                                           * math.exp(self.growth * self._n_exp))))

    def state(self):
        return {"next_exp": self._next_exp, "n_exp": self._n_exp}

    def load_state(self, state, step=None):
        """Restore :meth:`state`; with ``step`` (batches trained so far), first check that
        the counters are ones this schedule reaches in that many batches (ValueError)."""
        next_exp, n_exp = int(state["next_exp"]), int(state["n_exp"])
        if step is not None:
            if not 0 <= n_exp <= max(0, int(step)):
                raise ValueError(f"{n_exp} exponential rehashes cannot happen in {step} "
                                 "batches")
            replay = TableSchedule(self.batch_size, self.rehash_every, self.rebuild_every,
                                   self.kind, self.first_period, self.growth)
            for _ in range(n_exp):
                replay._advance()
            if replay._next_exp != next_exp:
                raise ValueError(f"next rehash at batch {next_exp} does not follow {n_exp} "
                                 f"rehashes (expected {replay._next_exp})")
        self._next_exp, self._n_exp = next_exp, n_exp
