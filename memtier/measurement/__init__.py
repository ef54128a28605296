"""Measurements: their schema, the published sets shipped with memtier, and measuring this machine."""
