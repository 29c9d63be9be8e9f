"""Uploads that go from the browser straight to storage while the user fills in a form."""

__version__ = "0.1.0"
