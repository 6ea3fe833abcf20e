"""Cython kernels: same names, signatures and results as ``slide_ref._kernels``."""
