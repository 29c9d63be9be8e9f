"""The example's GraphiQL page at /graphql/ works without internet (example/graphiql.py).

Its files (React, React-DOM, js-cookie, GraphiQL and its explorer plugin) are built from the npm
packages pinned in example_project/graphiql/ by scripts/build-graphiql.sh, which the ``built``
fixture runs (a no-op when they are up to date; ``make install`` runs it too). The browser test
runs the example as a real server (``scripts/run-example.sh --noreload``) and aborts every request
to a host other than 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.test_browser_demo import Example, start_example, stop
from tests.test_example_project import run_probe_with_stderr

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "scripts" / "build-graphiql.sh"
LOCKFILE = ROOT / "example_project" / "graphiql" / "package-lock.json"
BUILT = ROOT / "example_project" / "example" / "static" / "graphiql"
CDN = re.compile(r'(?:src|href)="https://unpkg\.com/((?:@[^/"]+/)?[^/@"]+)@([^/"]+)/([^"]+)"')

sqlite_only = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "sqlite").startswith("sqlite"),
    reason="the example runs on its own SQLite database: these tests run in the SQLite leg",
)


def strawberry_template() -> str:
    from strawberry.http.ides import get_graphql_ide_html

    return get_graphql_ide_html(graphql_ide="graphiql")


@pytest.fixture(scope="module")
def built() -> Path:
    """GraphiQL's files, built by scripts/build-graphiql.sh (skipped loudly without npm, failed under CI)."""
    if shutil.which("npm") is None:
        message = "!!! GRAPHIQL OFFLINE TESTS NOT RUN: npm not found (Debian: apt-get install nodejs npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true requires them)")
        pytest.skip(message)
    result = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return BUILT


def test_the_lockfile_pins_what_strawberrys_template_loads() -> None:
    """Each package@version on unpkg.com that strawberry's template loads is the one pinned here,
    so an upgrade of strawberry that moves a version fails here (not only on an offline page)."""
    wanted = {(package, version) for package, version, _ in CDN.findall(strawberry_template())}
    assert {package for package, _ in wanted} == {
        "react",
        "react-dom",
        "js-cookie",
        "graphiql",
        "@graphiql/plugin-explorer",
    }
    locked = json.loads(LOCKFILE.read_text())["packages"]
    assert {(package, locked.get(f"node_modules/{package}", {}).get("version")) for package, _ in wanted} == wanted
    declared = json.loads(LOCKFILE.with_name("package.json").read_text())["dependencies"]
    assert {(package, declared.get(package)) for package, _ in wanted} == wanted


PROBE = r"""
import json, re, sys, django
django.setup()
from django.test import Client, RequestFactory
from example.graphiql import OfflineGraphiQLView
from example.schema import schema

client = Client()
page = client.get("/graphql/", HTTP_ACCEPT="text/html")
script = client.get("/graphql/graphiql.js")
html = page.content.decode()
unbuilt = OfflineGraphiQLView.as_view(schema=schema, asset_dir="graphiql-not-built")(
    RequestFactory().get("/graphql/", HTTP_ACCEPT="text/html"))
print(json.dumps({
    "status": page.status_code,
    "csp": page.get("Content-Security-Policy"),
    "csrf_cookie": "csrftoken" in page.cookies,
    "scripts": re.findall(r"<script\b[^>]*>", html),
    "inline": re.findall(r"<script>(.*?)</script>", html, re.S),
    "links": re.findall(r'<link\b[^>]*\bhref="([^"]+)"', html),
    "unpkg": "unpkg.com" in html,
    "script_status": script.status_code,
    "script_type": script.get("Content-Type"),
    "script_fetcher": "GraphiQL.createFetcher" in script.content.decode(),
    "unbuilt_status": unbuilt.status_code,
    "unbuilt_csp": unbuilt.get("Content-Security-Policy"),
    "unbuilt": unbuilt.content.decode(),
}))
"""


def run_probe(tmp_path: Path) -> dict[str, Any]:
    report, stderr = run_probe_with_stderr(PROBE, tmp_path)
    return {"stderr": stderr, **report}


def test_the_page_loads_only_this_servers_files_and_allows_only_its_scripts(built: Path, tmp_path: Path) -> None:
    report = run_probe(tmp_path)
    assert report["status"] == 200
    assert not report["unpkg"]
    # Every script is a file of this origin, with strawberry's integrity hash; none is inline.
    assert report["inline"] == []
    # (Django's static() writes each @ as %40.)
    sources = [unquote(re.search(r'src="([^"]+)"', tag)[1]) for tag in report["scripts"]]  # type: ignore[index]
    assert sources == [
        "/static/graphiql/react@18.2.0/umd/react.production.min.js",
        "/static/graphiql/react-dom@18.2.0/umd/react-dom.production.min.js",
        "/static/graphiql/js-cookie@3.0.5/dist/js.cookie.min.js",
        "/static/graphiql/graphiql@3.8.3/graphiql.min.js",
        "/static/graphiql/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js",
        "/graphql/graphiql.js",
    ]
    assert all('integrity="sha384-' in tag for tag in report["scripts"][:-1])
    assert [unquote(link) for link in report["links"] if not link.startswith("data:")] == [
        "/static/graphiql/graphiql@3.8.3/graphiql.min.css",
        "/static/graphiql/@graphiql/plugin-explorer@1.0.2/dist/style.css",
    ]
    policy = dict(part.strip().split(" ", 1) for part in report["csp"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    # The page's script sends this cookie as X-CSRFToken: a first visit to /graphql/ sets it.
    assert report["csrf_cookie"]
    assert report["script_status"] == 200
    assert report["script_type"] == "text/javascript; charset=utf-8"
    assert report["script_fetcher"]


def test_without_the_built_files_the_page_says_so_and_falls_back_to_the_cdn(built: Path, tmp_path: Path) -> None:
    report = run_probe(tmp_path)
    page = report["unbuilt"]
    assert report["unbuilt_status"] == 200
    # strawberry's page as it is: its CDN URLs and its inline script, so no script-src 'self' policy.
    assert page.count('src="https://unpkg.com/') == 5
    assert report["unbuilt_csp"] is None
    banner = re.search(r'<div id="graphiql-offline-warning" role="alert"[^>]*>(.*?)</div>', page)
    assert banner is not None
    assert "GraphiQL&#x27;s files are not built" in banner[1]
    assert "scripts/build-graphiql.sh" in banner[1]
    assert "graphiql-not-built/graphiql@3.8.3/graphiql.min.js" in banner[1]
    assert re.search(r"<script>console\.error\(\"GraphiQL's files are not built", page)
    assert "GraphiQL is served from the CDN" in report["stderr"]


@pytest.fixture(scope="module")
def example(built: Path, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    proc, running = start_example(tmp_path_factory.mktemp("graphiql-example"), "filesystem")
    yield running
    stop(proc)


@sqlite_only
@pytest.mark.browser
def test_graphiql_renders_and_runs_a_query_with_no_other_host_reachable(example: Example, page: Any) -> None:
    elsewhere: list[str] = []

    def only_this_host(route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https") and url.hostname != "127.0.0.1":
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_this_host)
    response = page.goto(example.url + "/graphql/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.wait_for()
    assert "Loading..." not in page.locator("#graphiql").inner_text()
    assert page.locator("#graphiql-offline-warning").count() == 0

    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type("{ __typename ")
    query = page.evaluate("document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()")
    assert query.replace(" ", "") == "{__typename}"  # the editor closes the brace itself
    page.click(".graphiql-execute-button")
    result = page.locator(".graphiql-response .CodeMirror")
    result.filter(has_text="__typename").wait_for()
    answer = page.evaluate("document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()")
    assert json.loads(answer) == {"data": {"__typename": "Query"}}

    assert elsewhere == []
    assert page.console_errors == []
