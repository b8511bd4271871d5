"""Pure ingest logic: no I/O, no framework."""
