"""The gateway's serving logic: no web framework imports below this package."""
