"""Who may call the hub, what each caller may see, and the record of what they saw.

Pure rules (roles, region scope, field policy, keys, the audit chain, rate buckets) sit
apart from the I/O that applies them (client store, audit writer, request guard), so
that each rule can be tested on its own.
"""
