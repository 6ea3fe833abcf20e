"""Extension modules of slide_fast (everything else is in setup.cfg).

The build targets the x86-64-v2 baseline; faster instruction sets are used only
inside functions that carry their own ``target`` attribute and are chosen at
run time (see ``slide_fast/_simd/dispatch.h``).  ``SLIDE_DEBUG_CYTHON=1``
turns the Cython bound and wraparound checks back on.
"""
import os
import platform
from glob import glob

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("SLIDE_DEBUG_CYTHON", "0") == "1"
# test build: every SIMD level emulated by SIMDe's portable intrinsics (see dispatch.h and
# `make test-simd-emulated`), so AVX-512 and AVX512-BF16 code is tested on any CPU
EMULATE = os.environ.get("SLIDE_SIMD_EMULATE", "0") == "1"
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": False,
    "cdivision": True,
    "embedsignature": True,
}

is_x86 = platform.machine().lower() in ("x86_64", "amd64")
compile_args = ["-O3", "-fopenmp", "-fno-math-errno", "-ffp-contract=off", "-g0", "-std=gnu11",
                "-Wno-maybe-uninitialized", "-Wno-unused-function"]
if is_x86:
    compile_args.append("-march=x86-64-v2")
link_args = ["-fopenmp"]
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_22_API_VERSION")]
include_dirs = [np.get_include(), "slide_fast/_simd"]
if EMULATE:
    import simde_py
    macros.append(("SLIDE_SIMDE", "1"))
    include_dirs.append(simde_py.get_include())
    compile_args += ["-O1", "-Wno-psabi"]      # -O1: SIMDe's code is large; the build stays short


def extension(name):
    src = name.replace(".", "/") + ".pyx"
    return Extension(
        name,
        [src],
        include_dirs=include_dirs,
        depends=glob("slide_fast/_simd/*.h"),
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


modules = [
    "slide_fast._kernels._cpu",
    "slide_fast._kernels.rng",
    "slide_fast._kernels.hashing",
    "slide_fast._kernels.tables",
    "slide_fast._kernels.network",
    "slide_fast._kernels.bf16",
    "slide_fast._kernels.active",
    "slide_fast._kernels.negative",
    "slide_fast._kernels.sketch",
    "slide_fast._kernels.zsl",
    "slide_fast._kernels.scoring",
]

setup(
    ext_modules=cythonize(
        [extension(m) for m in modules],
        compiler_directives=DIRECTIVES,
        nthreads=2,
    ),
)
