"""Rooms (one per visitor), conversation records, messages, summaries, ratings, auto-close."""
