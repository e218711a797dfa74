"""Carrier adapters behind one Protocol (base), the sandbox carriers, and (later) routing with failover."""
