"""Serves the built agent/admin UI, the visitor widget, uploads and the demo shop."""
