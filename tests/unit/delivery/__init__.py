"""Delivery unit tests: the pure domain rules."""
