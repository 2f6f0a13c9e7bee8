"""Sitroom rooms package."""
