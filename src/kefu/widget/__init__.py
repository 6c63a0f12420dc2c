"""The visitor-facing API: widget sessions, offline messages, uploads."""
