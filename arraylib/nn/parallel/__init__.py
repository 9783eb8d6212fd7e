"""Placeholder for data-parallel wrappers (not implemented)."""
