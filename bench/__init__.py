"""Benchmark: pyrr against BIRD 2, FRR and GoBGP as route reflectors, on loopback.

`python -m bench.run --help`; see bench/README.md.
"""
