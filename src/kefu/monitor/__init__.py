"""The live group monitor: queue lengths, waits, conversations and agents per group."""
