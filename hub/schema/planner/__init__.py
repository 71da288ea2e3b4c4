"""The read planner: a query's whole selection compiled into one SQL statement that the
database answers as JSON, instead of one resolver call per field and object.

Resolvers stay the reference: anything the planner cannot compile runs through them,
and tests hold both paths to byte-identical answers and the same audit subjects. The
modules, in the order a request meets them: `selection` (which fields a document asks
for), `tables` (what those fields are in the database), `sqljson` (how each database
spells JSON), `compiler` (selection to SQL and to the walk that finishes it), `finish`
(the guard and the connections, in Python), `planner` (the cache and the run).
"""

from hub.schema.planner.planner import ReadPlanner

__all__ = ["ReadPlanner"]
