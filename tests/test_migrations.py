from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from async_uploads.models import AsyncTempFile


@pytest.mark.django_db
def test_migrations_match_the_models():
    out = StringIO()
    call_command("makemigrations", "async_uploads", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_key_lookups_use_a_unique_index():
    table = AsyncTempFile._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    on_key = [c for c in constraints.values() if c["columns"] == ["key"]]
    assert any(c["unique"] for c in on_key), constraints
    on_created = [c for c in constraints.values() if c["columns"] == ["created_at"]]
    assert any(c["index"] for c in on_created), constraints


def test_no_reverse_accessor_on_content_type():
    from django.contrib.contenttypes.models import ContentType

    accessors = [rel.get_accessor_name() for rel in ContentType._meta.related_objects]
    assert not [a for a in accessors if a and "asynctempfile" in a.lower()]
    assert AsyncTempFile._meta.get_field("content_type").remote_field.related_name == "+"
