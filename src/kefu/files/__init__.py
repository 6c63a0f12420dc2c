"""Uploaded images and files: stored in the data dir, served under /uploads/."""
