"""The trace-driven simulator of one memcg on a fast and a slow node, and sweeps over it."""
