"""NumPy kernels: the reference implementation of every hot loop.

Each module here has a twin in ``slide_fast._kernels`` with the same function
names, signatures and results.  Estimators call kernels only through a class
attribute (``_kernels``), so binding the other module swaps the backend.
"""
