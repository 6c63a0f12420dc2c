"""The realtime hub (channels, fan-out through a backend), typed frames, socket endpoints."""
