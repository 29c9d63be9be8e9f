"""The reference package's own initial migration, re-exported unchanged (see __init__.py)."""

from importlib import import_module

Migration = import_module("alliance_platform.storage.migrations.0001_initial").Migration
