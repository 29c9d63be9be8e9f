"""CPU medians and cProfile entries of single requests, ours against the reference and the floors.

Companion of ``run.py`` for the figures that wall time on a shared machine cannot give: the
requests named on the command line run interleaved, one after another, in one process over the
same fixtures (``run.Env``) and a test database of their own, and each gets its median wall and
CPU time (``time.process_time``). ``--profile NAME`` then runs one of them under cProfile and
prints its Python calls per request, the self time of this package's functions and the top
entries by self time.

    benchmarks/.work/venv/bin/python benchmarks/percall.py ref upload-url upload-url-floor
    benchmarks/.work/venv/bin/python benchmarks/percall.py gql gql-typename gql-floor --profile gql
    benchmarks/.work/venv/bin/python benchmarks/percall.py list list-without list-floor

The database is run.py's (``DATABASE_URL``; a SQLite file by default). Work files go under
``BENCH_WORK_DIR`` (default ``benchmarks/.work/percall``), so this can run beside run.py.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
os.environ.setdefault("BENCH_WORK_DIR", str(BENCH_DIR / ".work" / "percall"))
sys.path.insert(0, str(BENCH_DIR))

import run  # noqa: E402 (needs BENCH_WORK_DIR first)

TYPENAME_MUTATION = "mutation G($input: GenerateUploadUrlInput!) { generateUploadUrl(input: $input) { __typename } }"


def _requests(env: run.Env) -> dict[str, tuple[str, Callable[[], Any]]]:
    from urllib.parse import urlencode

    client = env.client
    form, json_type = "application/x-www-form-urlencoded", "application/json"
    ours_body = urlencode({"field_id": env.ours_id(env.om.Document, "file"), "filename": "report.txt"})
    ref_data = {"field_id": env.ref_id(env.rm.Document, "file"), "filename": "report.txt"}
    variables = run._generate_variables(env)
    bodies = {
        "gql": run._graphql_body(run.GENERATE_MUTATION, variables),
        "gql-typename": run._graphql_body(TYPENAME_MUTATION, variables),
        "gql-floor": run._graphql_body(run.FLOOR_MUTATION, {"filename": "report.txt"}),
        "list": run._graphql_body(run.FILES_LIST_WITH),
        "list-without": run._graphql_body(run.FILES_LIST_WITHOUT),
        "list-floor": run._graphql_body(run.FILES_LIST_FLOOR),
    }

    def graphql(name: str) -> Callable[[], Any]:
        return lambda: client.post("/graphql/", bodies[name], content_type=json_type)

    return {
        "ref": (
            "the reference's upload-URL view (rows 1 and 8, ref side)",
            lambda: client.get(env.ref_urls["generate"], ref_data),
        ),
        "upload-url": (
            "ours: the upload-URL view (row 1)",
            lambda: client.post(env.ours_urls["generate"], ours_body, content_type=form),
        ),
        "upload-url-floor": (
            "row 1f: a plain view, session + user + one INSERT",
            lambda: client.post("/floor-insert/", "filename=report.txt", content_type=form),
        ),
        "gql": ("ours: generateUploadUrl with row 8's selection", graphql("gql")),
        "gql-typename": ("ours: generateUploadUrl selecting only __typename", graphql("gql-typename")),
        "gql-floor": ("row 8f: the minimal strawberry mutation", graphql("gql-floor")),
        "list": ("9f: 100 records with file and image {key name url downloadUrl} (superuser)", graphql("list")),
        "list-without": ("9f: the same list without file fields", graphql("list-without")),
        "list-floor": ("9f: the floor, plain attribute fields", graphql("list-floor")),
    }


def _check(name: str, response: Any) -> None:
    if response.status_code != 200 or b'"errors"' in response.content:
        raise AssertionError(f"{name}: {response.status_code} {response.content[:300]!r}")


def _empty_temp_tables(env: run.Env) -> None:
    # As run.py does between batches: an uploader holds at most MAX_PENDING_UPLOADS pending uploads.
    for model in (env.OursTemp, env.RefTemp):
        model._base_manager.all()._raw_delete(model._base_manager.db)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requests", nargs="+", metavar="REQUEST", help="requests to time, interleaved (see --list)")
    parser.add_argument("-n", type=int, default=600, help="timed runs of each request (default 600)")
    parser.add_argument("--profile", metavar="REQUEST", help="then profile this request under cProfile")
    parser.add_argument("--top", type=int, default=25, help="entries of the profile to print (default 25)")
    parser.add_argument("--list", action="store_true", help="list the requests and exit")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    for directory in (settings.MEDIA_OURS, settings.MEDIA_REF):
        os.makedirs(directory, exist_ok=True)
    env = run.Env()
    run._files_list_fixture(env)
    requests = _requests(env)
    if args.list:
        for name, (label, _) in requests.items():
            print(f"{name:18s} {label}")
        return 0
    unknown = [n for n in [*args.requests, args.profile] if n and n not in requests]
    if unknown:
        parser.error(f"unknown request(s): {', '.join(unknown)}; --list shows them")

    wall: dict[str, list[float]] = {n: [] for n in args.requests}
    cpu: dict[str, list[float]] = {n: [] for n in args.requests}
    for i in range(30 + args.n):
        if i % 50 == 0:
            _empty_temp_tables(env)
        for name in args.requests:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = requests[name][1]()
            spent, cpu_spent = time.perf_counter() - started, time.process_time() - cpu_started
            _check(name, response)
            if i >= 30:  # the first 30 warm up
                wall[name].append(spent)
                cpu[name].append(cpu_spent)
    print(f"{args.n} runs each, interleaved, after 30 warm-up runs; {connection.vendor}")
    print("| request | median ms | CPU median ms |\n|---|---:|---:|")
    for name in args.requests:
        print(f"| {name} | {statistics.median(wall[name]) * 1000:.3f} | {statistics.median(cpu[name]) * 1000:.3f} |")

    if args.profile:
        name, runs = args.profile, min(args.n, 300)
        profile = cProfile.Profile()
        for i in range(runs):
            if i % 50 == 0:
                _empty_temp_tables(env)
            profile.enable()
            requests[name][1]()
            profile.disable()
        stats = pstats.Stats(profile)
        import async_uploads

        package = os.path.dirname(async_uploads.__file__) + os.sep
        own = sum(v[2] for k, v in stats.stats.items() if k[0].startswith(package))  # type: ignore[attr-defined]
        print(
            f"\n{name} under cProfile, {runs} runs: {stats.total_calls / runs:,.0f} Python calls per request, "  # type: ignore[attr-defined]
            f"{stats.total_tt / runs * 1000:.3f} ms per request, of which this package's own functions "  # type: ignore[attr-defined]
            f"{own / runs * 1000:.3f} ms (self time)"
        )
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
