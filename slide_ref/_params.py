"""Storing an estimator's constructor arguments, scikit-learn style.

scikit-learn reads an estimator's parameters from the explicit signature of
its ``__init__`` and expects each stored, unchanged, under its own name
(validation happens at ``fit``/``setup``).  Every constructor of the library
does exactly that, so its body is one call: ``store_params(self, locals())``.
"""
import inspect


def param_names(cls):
    """The named parameters of ``cls.__init__``, in order (``self`` and ``*args``/``**kw``
    left out)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def store_params(estimator, arguments):
    """Set each parameter of ``estimator``'s constructor, taken from ``arguments`` (the
    constructor's ``locals()``), as an attribute of the same name, as given.

    Only the signature's names are stored: ``locals()`` may also hold the cells of
    names the constructor's body refers to.
    """
    for name in param_names(type(estimator)):
        setattr(estimator, name, arguments[name])
