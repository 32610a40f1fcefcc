"""The retrieval service's HTTP routes (thin: validate, call the core, map errors)."""
