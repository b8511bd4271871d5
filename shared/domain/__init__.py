"""Pure domain code: plain functions on plain values, no I/O, no framework imports."""
