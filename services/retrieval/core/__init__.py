"""Retrieval logic without web imports: embedder, sparse vectors, the Qdrant store, the index."""
