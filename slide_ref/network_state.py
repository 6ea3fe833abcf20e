"""Saving and loading a :class:`~slide_ref.network.SlideNetwork`: the network's part.

The network's state is its parameters (JSON) and named arrays: its own counters
(``seed``, ``step``), each layer's arrays under ``layer{i}.`` and the output
sampler's under ``sampler.``.  Each component returns and checks its own arrays
(``get_state`` / ``load_state``); this module only assembles them and names the
file and field of anything that does not fit (:class:`StateError`).
"""
import numpy as np

from ._backend import sibling
from ._compat import upgrade_network_state
from ._validation import StateError
from .negative import sampler_from_spec, sampler_spec

__all__ = ["network_state", "load_network"]


def network_state(net):
    """``(params, arrays)`` of ``net`` (see :meth:`SlideNetwork.get_state`)."""
    net.sync_optimizer()
    params = {k: getattr(net, k) for k in net._PARAMS}
    params.update(hidden=list(net.hidden), sampled=list(net.sampled), random_state=None,
                  lsh=net.lsh.get_params(), output_sampler=sampler_spec(net.output_sampler))
    arrays = {"seed": np.array([net._seed], dtype=np.int64),
              "step": np.array([net.step_], dtype=np.int64)}
    for i, layer in enumerate(net.layers):
        arrays.update({f"layer{i}.{k}": v for k, v in layer.get_state().items()})
    arrays.update({f"sampler.{k}": np.asarray(v) for k, v in net.sampler_.get_state().items()})
    return params, arrays


def load_network(cls, params, arrays, source="<state>"):
    """A ``cls`` network rebuilt from ``(params, arrays)``; ``source`` names the file."""
    params, arrays = upgrade_network_state(params, arrays)
    params = dict(params)
    spec = params.pop("output_sampler", None)
    if spec is not None:
        params["output_sampler"] = sampler_from_spec(spec, sibling(cls, "negative"), source)
    try:
        net = cls(**params)
    except (TypeError, ValueError) as exc:
        raise StateError(source, "network", str(exc)) from None
    net._seed, net.step_ = (_counter(arrays, name, source) for name in ("seed", "step"))
    for i, layer in enumerate(net.layers):
        layer.load_state(_prefixed(arrays, f"layer{i}."), source, f"layer{i}.", net.step_)
    sampler_state = _prefixed(arrays, "sampler.")
    if sampler_state:
        _load_sampler(net.sampler_, sampler_state, source, net.step_)
    return net


def _load_sampler(sampler, arrays, source, step):
    """The output sampler's saved arrays; a missing one means they were saved by another
    kind of sampler than the ``output_sampler`` the parameters name."""
    try:
        sampler.load_state(arrays, source, "sampler.", step)
    except StateError as exc:
        if exc.args[0].endswith(": missing"):
            raise StateError(source, exc.field, f"missing: the saved sampler arrays "
                                                f"{sorted(arrays)} are not those of the "
                                                f"output_sampler {type(sampler).__name__} "
                                                "with its lsh settings") \
                from None
        raise


def _prefixed(arrays, prefix):
    """The arrays whose names start with ``prefix``, without it."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _counter(arrays, name, source):
    """A saved non-negative int64 counter (``seed``, ``step``)."""
    value = np.asarray(arrays[name]) if name in arrays else None
    if value is None or value.shape != (1,) or value.dtype.kind not in "iu" or value[0] < 0:
        raise StateError(source, name, "must be one non-negative integer")
    return int(value[0])
