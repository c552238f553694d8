"""Reads (selectors): plain functions from ids and models to models, rows and dicts; no writes."""
