"""Who serves whom: eligible agents, strategies (pure), per-group FIFO queues, assignment."""
