"""Nurture: drip sequences, re-engagement and remarketing for leads not yet ready for sales."""
