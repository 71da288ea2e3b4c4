"""Persistence: typed models, the async engine, migrations. Knows no API and no jobs."""
