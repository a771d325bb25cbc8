"""Benchmark suite: synthetic data, a query mix and an interleaved runner comparing
ssikg with ``oxigraph serve`` and rdflib-endpoint (see bench/README section in README.md)."""
