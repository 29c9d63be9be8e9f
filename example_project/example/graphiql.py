"""GraphiQL at /graphql/ from the project's own static files, so that the page works offline.

strawberry's GraphiQL template loads React, React-DOM, js-cookie, GraphiQL and its explorer
plugin from unpkg.com, and runs one inline script. Here the page is strawberry's template with
each ``https://unpkg.com/<package>@<version>/<path>`` replaced by the static file
``graphiql/<package>@<version>/<path>`` (built from the npm packages by
``scripts/build-graphiql.sh``, which ``make install`` and ``make run`` run), keeping the template's
``integrity`` hashes, so the browser checks that the bytes are the ones strawberry pinned. The
inline script is served from a URL of its own (``graphiql_script``), and the page's
Content-Security-Policy allows scripts from this origin only.

When a file is missing (no npm on this machine, or a strawberry upgrade whose template wants
other versions than ``example_project/graphiql/package.json`` pins), the page is strawberry's own,
loading everything from the CDN, with a banner at the top and an error in the browser console
naming the missing files, and a warning in the server's log.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import escape
from strawberry.http.ides import get_graphql_ide_html

from async_uploads.graphql.views import GraphQLView

__all__ = ["CONTENT_SECURITY_POLICY", "OfflineGraphiQLView", "graphiql_script", "offline_page"]

logger = logging.getLogger(__name__)

#: The static directory scripts/build-graphiql.sh fills (example/static/graphiql/).
ASSET_DIR = "graphiql"
CDN_ATTRIBUTE = re.compile(r'\b(?P<attr>src|href)="https://unpkg\.com/(?P<path>[^"]+)"')
INLINE_SCRIPT = re.compile(r"<script>(?P<body>.*?)</script>", re.DOTALL)
#: Scripts from this origin only; the template's own <style> and the styles React sets need
#: 'unsafe-inline' for styles; its icon and GraphiQL's fonts are data: URLs.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
BUILD_HINT = (
    "build them with scripts/build-graphiql.sh (make install and make run do; it needs Node.js and npm), "
    "and keep the versions of example_project/graphiql/package.json those of strawberry's template"
)


def strawberry_graphiql_html() -> str:
    return get_graphql_ide_html(graphql_ide="graphiql")


def inline_script(html: str) -> str | None:
    """Return the body of the template's one inline script, or ``None`` if it has not exactly one."""
    scripts = INLINE_SCRIPT.findall(html)
    return scripts[0] if len(scripts) == 1 else None


def offline_page(html: str, script_url: str, asset_dir: str = ASSET_DIR) -> tuple[str, list[str]]:
    """Return (page, missing): ``html`` pointing at the static files, or, when some are missing,
    ``html`` unchanged (the CDN) with the warning, and the missing files' paths."""
    local: dict[str, str] = {}
    missing: list[str] = []
    for match in CDN_ATTRIBUTE.finditer(html):
        path = f"{asset_dir}/{match['path']}"
        if finders.find(path):
            local[match["path"]] = static(path)
        else:
            missing.append(path)
    if inline_script(html) is None:
        missing.append("(strawberry's template no longer has exactly one inline script)")
    if missing:
        return with_warning(html, missing), missing
    page = CDN_ATTRIBUTE.sub(lambda m: f'{m["attr"]}="{escape(local[m["path"]])}"', html)
    page = INLINE_SCRIPT.sub(lambda m: f'<script src="{escape(script_url)}"></script>', page)
    return page, []


def with_warning(html: str, missing: list[str]) -> str:
    message = (
        "GraphiQL's files are not built, so this page loads them from unpkg.com and needs internet: "
        f"{BUILD_HINT}. Missing: {', '.join(missing)}"
    )
    console = json.dumps(message).replace("</", "<\\/")
    banner = (
        '<div id="graphiql-offline-warning" role="alert" style="position:fixed;top:0;left:0;right:0;'
        'z-index:1000;padding:8px 12px;background:#b00020;color:#fff;font:14px/1.4 sans-serif">'
        f"{escape(message)}</div><script>console.error({console});</script>"
    )
    return html.replace("<body>", "<body>" + banner, 1)


class OfflineGraphiQLView(GraphQLView):
    """The GraphQL view whose GraphiQL page loads its files from this server (see the module)."""

    asset_dir = ASSET_DIR

    def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        if self.graphql_ide != "graphiql":
            return super().render_graphql_ide(request)
        # The page's script sends the csrftoken cookie as X-CSRFToken (the view is not CSRF-exempt);
        # strawberry's page does not set it, so a visitor who opens /graphql/ first would get a 403.
        get_token(request)
        page, missing = offline_page(strawberry_graphiql_html(), reverse("graphiql-script"), self.asset_dir)
        response = HttpResponse(page)
        if missing:
            logger.warning("GraphiQL is served from the CDN: %s. Missing: %s", BUILD_HINT, ", ".join(missing))
        else:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


def graphiql_script(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The inline script of strawberry's GraphiQL template, as a script of this origin."""
    body = inline_script(strawberry_graphiql_html())
    if body is None:
        return HttpResponse(status=404)
    return HttpResponse(body, content_type="text/javascript; charset=utf-8")
