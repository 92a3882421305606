"""Scale-out on NATS: ingest nodes publish venue events, aggregate nodes consolidate them.

``codec`` names the subjects and the wire structs, ``arbitration`` decides which copy of a venue
event counts when several ingest nodes carry the same venue and when a venue is stale (both
pure), ``link`` publishes on a nats-py connection from synchronous code, and ``ingest`` and
``aggregate_node`` are the two roles. Only ``link`` and the roles import nats-py.
"""
