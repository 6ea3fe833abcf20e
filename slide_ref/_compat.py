"""Reading models saved before the LSH settings became one object (:class:`LSHParams`).

Such states name the LSH settings flat (``K``, ``L``, ``selection``, ...) in the
network's, the estimator's and an ``LSHSampler``'s parameters, and store the
output sampler's hash functions, tables, schedule and padding permutation
under the output layer (``layer{i}.family.*`` ...) instead of ``sampler.*``.
"""
from .lsh import LSHParams

__all__ = ["nest_lsh_params", "upgrade_network_state", "upgrade_estimator_params"]

_LSH_NAMES = frozenset(LSHParams().get_params())
#: the arrays of an LSH index, which older states kept under the output layer
_INDEX_ARRAYS = ("family", "tables", "schedule", "fill_perm")


def nest_lsh_params(params):
    """``params`` with flat LSH settings moved into ``params["lsh"]``."""
    if not isinstance(params, dict) or not _LSH_NAMES & set(params):
        return params
    nested = {k: v for k, v in params.items() if k not in _LSH_NAMES}
    flat = {k: v for k, v in params.items() if k in _LSH_NAMES}
    nested["lsh"] = {**flat, **(params.get("lsh") or {})}
    return nested


def _upgrade_sampler_spec(spec):
    if isinstance(spec, dict) and spec.get("class") == "LSHSampler":
        return {**spec, "params": nest_lsh_params(spec.get("params"))}
    return spec


def upgrade_estimator_params(params):
    """An estimator's saved parameters in the current form."""
    params = nest_lsh_params(params)
    if isinstance(params, dict) and "sampler" in params:
        params = {**params, "sampler": _upgrade_sampler_spec(params["sampler"])}
    return params


def upgrade_network_state(params, arrays):
    """``(params, arrays)`` of :meth:`SlideNetwork.get_state` in the current form."""
    if not isinstance(params, dict):
        return params, arrays
    params = nest_lsh_params(params)
    if "output_sampler" in params:
        params = {**params, "output_sampler": _upgrade_sampler_spec(params["output_sampler"])}
    hidden = params.get("hidden")
    out = f"layer{len(hidden) if isinstance(hidden, list) else 1}."
    if f"{out}tables.offsets" in arrays and "sampler.tables.offsets" not in arrays:
        arrays = {("sampler." + k[len(out):] if k.startswith(out)
                   and k[len(out):].split(".")[0] in _INDEX_ARRAYS else k): v
                  for k, v in arrays.items()}
    return params, arrays
