"""Connectors: each agency's system as a set of streams that fetch and stage records.

They know neither the GraphQL schema nor the sync jobs: they fetch, validate and write
to staging (`source_record`), and remember where each stream stopped.
"""
