"""Uploaded images and files: stored in the database, served under /uploads/ by any server."""
