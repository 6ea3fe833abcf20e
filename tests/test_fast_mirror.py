"""Each fast module is its reference module mirrored by one rule (``slide_fast._binding``).

Classes with kernels are bound to the fast kernels, functions with a ``module=``
parameter build from the fast backend by default, and everything else is the
reference object itself.
"""
import importlib
import inspect
import types

import pytest

import slide_fast
import slide_ref
from slide_fast import _binding


MIRRORED = ("classifier", "datasets", "layers", "lsh", "lsh_index", "metrics", "negative",
            "network", "numerics", "nwsketch", "optimizers", "zsl")


def mirrored_modules():
    """The fast modules built by the rule (imported, so ``getattr`` finds them)."""
    for name in MIRRORED:
        importlib.import_module(f"slide_fast.{name}")
    return list(MIRRORED)


def module_functions():
    """``(module name, function name)`` of every function taking ``module=``."""
    out = []
    for mod_name in mirrored_modules():
        ref_mod = getattr(slide_ref, mod_name)
        for name in ref_mod.__all__:
            obj = getattr(ref_mod, name)
            if inspect.isfunction(obj) and "module" in inspect.signature(obj).parameters:
                out.append((mod_name, name))
    return out


def test_module_functions_are_found():
    found = set(module_functions())
    assert {("negative", "make_sampler"), ("negative", "sampler_from_spec"),
            ("lsh", "hash_family_class"), ("lsh", "hash_family_from_state"),
            ("optimizers", "make_optimizer")} <= found


@pytest.mark.parametrize("mod_name, name", module_functions())
def test_module_functions_default_to_the_fast_module(mod_name, name):
    fast = getattr(getattr(slide_fast, mod_name), name)
    assert fast is not getattr(getattr(slide_ref, mod_name), name)
    assert fast.__module__ == f"slide_fast.{mod_name}"


@pytest.mark.parametrize("backend", [slide_ref, slide_fast], ids=lambda b: b.__name__)
def test_module_functions_build_classes_of_their_backend(backend):
    built = [backend.negative.make_sampler("uniform", n_negatives=4),
             backend.negative.sampler_from_spec(
                 slide_ref.negative.sampler_spec(slide_ref.negative.UniformSampler(3))),
             backend.optimizers.make_optimizer("adam", "dense"),
             backend.optimizers.make_optimizer("sgd", "dense", split=True)]
    classes = [type(obj) for obj in built] + [backend.lsh.hash_family_class("wta")]
    family = slide_ref.lsh.WTAHash(8, K=2, L=3, random_state=0)
    classes.append(type(backend.lsh.hash_family_from_state(family.get_state())))
    assert [cls.__module__.split(".")[0] for cls in classes] == [backend.__name__] * 6
    assert all(cls._kernels is backend._kernels for cls in classes)


def test_an_explicit_module_still_wins():
    sampler = slide_fast.negative.make_sampler("uniform", slide_ref.negative, n_negatives=4)
    assert type(sampler) is slide_ref.negative.UniformSampler
    opt = slide_fast.optimizers.make_optimizer("adam", "dense", module=slide_ref.optimizers)
    assert type(opt) is slide_ref.optimizers.Adam


def test_a_re_exported_class_is_the_one_bound_in_its_own_module():
    """A kernel class listed by two reference modules gets one fast twin, not two."""
    fake = types.ModuleType("slide_ref.fake")
    fake.__all__ = ["WTAHash", "MASK"]
    fake.WTAHash, fake.MASK = slide_ref.lsh.WTAHash, slide_ref.negative.MASK
    namespace = {"__name__": "slide_fast.fake"}
    _binding.mirror(fake, namespace)
    assert namespace["WTAHash"] is slide_fast.lsh.WTAHash
    assert namespace["MASK"] is slide_ref.negative.MASK
    assert namespace["__all__"] == ["WTAHash", "MASK"]


def test_each_fast_module_is_one_mirror_call():
    for mod_name in mirrored_modules():
        module = getattr(slide_fast, mod_name)
        ref_mod = getattr(slide_ref, mod_name)
        assert module.__all__ == list(ref_mod.__all__), mod_name
        own = [name for name, value in vars(module).items()
               if inspect.isfunction(value) and value.__module__ == module.__name__
               and not hasattr(value, "__wrapped__")]
        assert own == [], mod_name
