"""slide_ref and slide_fast export the same names with the same signatures."""
import inspect

import pytest

import slide_fast
import slide_ref

FAST_ONLY = {"simd_level", "set_simd_level", "available_simd_levels", "show_config"}


def shape(fn):
    """Parameter names, kinds and defaults (annotations may name the class itself)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def public(obj):
    names = getattr(obj, "__all__", None)
    if names is None:
        names = [n for n in dir(obj) if not n.startswith("_")]
    return set(names)


def test_same_top_level_names():
    assert public(slide_fast) - FAST_ONLY == public(slide_ref)
    assert FAST_ONLY <= public(slide_fast)


@pytest.mark.parametrize("module", sorted(public(slide_ref) - {"__version__"}))
def test_same_module_api(module):
    ref_mod, fast_mod = getattr(slide_ref, module), getattr(slide_fast, module)
    assert public(ref_mod) == public(fast_mod)
    for name in public(ref_mod):
        ref_obj, fast_obj = getattr(ref_mod, name), getattr(fast_mod, name)
        assert type(ref_obj) is type(fast_obj), name
        if inspect.isclass(ref_obj):
            for attr in public(ref_obj):
                r, f = getattr(ref_obj, attr), getattr(fast_obj, attr)
                if callable(r):
                    assert shape(r) == shape(f), f"{name}.{attr}"
            assert shape(ref_obj) == shape(fast_obj), name
            assert fast_obj.__doc__ == ref_obj.__doc__, name
        elif callable(ref_obj):
            assert shape(ref_obj) == shape(fast_obj), name


def test_fast_classes_use_compiled_kernels():
    for name in slide_ref.lsh.__all__:
        cls = getattr(slide_fast.lsh, name)
        if inspect.isclass(cls):
            assert cls._kernels.__name__.startswith("slide_fast._kernels"), name
            assert getattr(slide_ref.lsh, name)._kernels.__name__.startswith("slide_ref._kernels")


# ----------------------------------------------------------------------------- kernel packages
KERNEL_MODULES = ("network", "active", "bf16", "hashing", "tables", "negative", "rng", "scoring",
                  "sketch", "zsl")


def kernel_functions(module):
    """Public kernels of a module, by name: its ``__all__`` where it has one (a module may
    re-export a sibling's kernel), else the public functions defined in it."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")
                 and getattr(getattr(module, n), "__module__", None) == module.__name__]
    return {n: getattr(module, n) for n in names if callable(getattr(module, n))
            and not inspect.isclass(getattr(module, n))}


def test_kernel_packages_expose_the_same_modules():
    for backend in (slide_ref, slide_fast):
        assert tuple(backend._kernels.MODULES) == KERNEL_MODULES
        for name in KERNEL_MODULES:
            module = getattr(backend._kernels, name)
            assert module.__name__ == f"{backend.__name__}._kernels.{name}"


@pytest.mark.parametrize("name", KERNEL_MODULES)
def test_kernel_modules_have_the_same_functions(name):
    ref = kernel_functions(getattr(slide_ref._kernels, name))
    fast = kernel_functions(getattr(slide_fast._kernels, name))
    assert sorted(ref) == sorted(fast)
    for fn_name, fn in ref.items():
        try:
            fast_shape = shape(fast[fn_name])
        except (TypeError, ValueError):     # a compiled function without a signature
            continue
        assert [p[0] for p in shape(fn)] == [p[0] for p in fast_shape], fn_name
        assert [p[2] for p in shape(fn)] == [p[2] for p in fast_shape], fn_name
