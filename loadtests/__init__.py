"""Locust load and stress tests of a running FineRAG stack (`make load PROFILE=smoke`)."""
