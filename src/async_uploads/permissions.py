"""Permission names and checks used by the upload and download views."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from async_uploads.conf import app_settings

__all__ = ["check_permission", "default_check_permission", "default_resolve_perm_name", "resolve_perm_name"]

_DJANGO_ACTIONS = {"create": "add", "update": "change", "detail": "view", "delete": "delete"}


def default_resolve_perm_name(model: type[Model] | Model, action: str) -> str:
    """Return Django's permission name for ``action`` on ``model``.

    ``create`` -> ``app.add_model``, ``update`` -> ``app.change_model``,
    ``detail`` -> ``app.view_model``; any other action ``x`` -> ``app.x_model``.
    """
    opts = model._meta
    verb = _DJANGO_ACTIONS.get(action, action)
    return f"{opts.app_label}.{verb}_{opts.model_name}"


def resolve_perm_name(model: type[Model] | Model, action: str) -> str:
    """Return the permission name for ``action`` on ``model`` using ``ASYNC_UPLOADS["RESOLVE_PERM_NAME"]``."""
    return app_settings.RESOLVE_PERM_NAME(model, action)


def default_check_permission(user: Any, perm: str, obj: Model | None) -> bool:
    """Return whether ``user`` holds ``perm`` globally or, through an object backend, on ``obj``."""
    if user is None:
        return False
    if user.has_perm(perm):
        return True
    return obj is not None and user.has_perm(perm, obj)


def check_permission(user: Any, perm: str | None, obj: Model | None = None) -> bool:
    """Return whether ``user`` may act; ``perm=None`` means the field allows everyone."""
    if perm is None:
        return True
    return bool(app_settings.CHECK_PERMISSION(user, perm, obj))
