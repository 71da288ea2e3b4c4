"""Pure domain rules: no I/O, no database, no framework. Easy to test, safe to reuse."""
