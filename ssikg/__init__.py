"""ssikg: the SSI / DCIS knowledge graph, its store, its SPARQL endpoint and its tools."""

__version__ = "0.1.0"
