"""Shared code zipped next to every function module: logging, EMF metrics, API responses, settings, AWS helpers."""
