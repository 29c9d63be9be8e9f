"""Migrations used for the reference app (``alliance_platform_storage``) in the benchmark project.

Its own 0002 copies rows from a legacy table with PostgreSQL-only SQL (a ``DO $$`` block), which
fails on SQLite and has nothing to copy here; this module keeps only its 0001, imported as is.
"""
