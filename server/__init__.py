"""Sitroom server package."""
