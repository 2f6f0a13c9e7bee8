"""Sitroom media package."""
