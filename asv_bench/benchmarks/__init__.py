"""asv benchmarks of slide (see ../README.md)."""
