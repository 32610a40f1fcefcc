"""Larkspur Cycles: a hand-written knowledge base the demo never trains on (see README.md)."""
