"""Ingestion logic without web imports: parsing, chunking, versioned upserts, job records."""
