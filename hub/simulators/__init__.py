"""Stand-ins for the agencies' systems, and the synthetic population they serve.

Simulators use only `hub.domain`: they are other agencies' systems and must never read
the hub's database.
"""
