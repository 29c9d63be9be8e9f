"""Row 11 of run.py: ``collectstatic`` with each package's ``ExcludingManifestStaticFilesStorage``.

(The DRF rows 10, 10m and 10u live in run.py with the other per-call rows; their serializers and
views are in bench_project/drf_api.py.)

One generated tree of static files (``make_tree``) is collected by ``collectstatic --noinput
--clear`` into a fresh ``STATIC_ROOT`` per run, with ``exclude_patterns=["frontend/build/*"]``,
alternating ours and ref run by run, in this process (``call_command("collectstatic", ...)`` under
``override_settings``: a new storage instance per run). Reported: the wall time of each run
(median, mean, min), the output names (the excluded ones must be the same for both sides), the
manifest's entries, and whether a fresh process with ``manifest_strict=True`` (what a web server
loading ``staticfiles.json`` does) resolves an excluded file's URL.

Imported by run.py after ``django.setup()``.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent

EXCLUDE_PATTERNS = ["frontend/build/*"]
STORAGE_CLASSES = {
    "ours": "async_uploads.staticfiles.ExcludingManifestStaticFilesStorage",
    "ref": "alliance_platform.storage.staticfiles.storage.ExcludingManifestStaticFilesStorage",
}

#: The generated tree: CSS files collected and hashed (``BASE_CSS`` under css/base/core, the rest
#: under css/pages), images they refer to, and files under the excluded frontend/build/.
CSS_FILES = 300
BASE_CSS = 10
IMAGES = 100
#: Each of js, css and media under frontend/build/static/.
EXCLUDED_PER_KIND = 100
#: An excluded file and a collected one whose URLs the fresh strict process asks for.
EXCLUDED_PROBE = "frontend/build/static/js/main-000.js"
KEPT_PROBE = "css/pages/page-000.css"


def make_tree(root: Path) -> dict[str, int]:
    """Write the source tree under ``root`` (deterministic content); return counts per part.

    Pages (css/pages, depth 3) ``@import`` two base files (css/base/core, depth 4: Django
    post-processes deeper files first, so every reference resolves in the first pass and the
    second pass only confirms it) and refer to three images and to one excluded asset (whose
    reference must stay unhashed). Excluded CSS refers to its sibling media; excluded JS carries a
    ``sourceMappingURL`` (left alone, as the excluded files are not post-processed).
    """
    shutil.rmtree(root, ignore_errors=True)
    filler = "".join(f".rule-{j} {{ margin: {j}px; padding: {j % 7}px; color: #{j:06x}; }}\n" for j in range(24))

    def write(rel: str, content: bytes | str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    for i in range(IMAGES):
        # Not decoded by anyone: distinct bytes give distinct hashes.
        write(f"img/icon-{i:03d}.png", b"\x89PNG\r\n\x1a\n" + i.to_bytes(2, "big") * 64)
    for k in range(BASE_CSS):
        write(
            f"css/base/core/base-{k:02d}.css",
            f'.base-{k} {{ background: url("../../../img/icon-{k:03d}.png"); }}\n'
            f".base-{k} .icon {{ background-image: url('../../../img/icon-{(k + 50) % IMAGES:03d}.png'); }}\n" + filler,
        )
    for i in range(CSS_FILES - BASE_CSS):
        write(
            f"css/pages/page-{i:03d}.css",
            f'@import url("../base/core/base-{i % BASE_CSS:02d}.css");\n'
            f'@import url("../base/core/base-{(i + 3) % BASE_CSS:02d}.css");\n'
            f'.page-{i} {{ background: url("../../img/icon-{i % IMAGES:03d}.png"); }}\n'
            f".page-{i} .a {{ background: url(../../img/icon-{(i + 1) % IMAGES:03d}.png); }}\n"
            f'.page-{i} .b {{ background: url("../../img/icon-{(i + 2) % IMAGES:03d}.png#frag"); }}\n'
            f'.page-{i} .hero {{ background: url("../../frontend/build/static/media/asset-'
            f'{i % EXCLUDED_PER_KIND:03d}.png"); }}\n' + filler,
        )
    for i in range(EXCLUDED_PER_KIND):
        write(
            f"frontend/build/static/js/main-{i:03d}.js",
            f"(()=>{{const n={i};console.log('chunk',n)}})();\n" * 40 + f"//# sourceMappingURL=main-{i:03d}.js.map\n",
        )
        write(
            f"frontend/build/static/css/main-{i:03d}.css",
            f'.chunk-{i} {{ background: url("../media/asset-{i:03d}.png"); }}\n' + filler,
        )
        write(
            f"frontend/build/static/media/asset-{i:03d}.png", b"\x89PNG\r\n\x1a\n" + (1000 + i).to_bytes(2, "big") * 64
        )
    return {
        "css": CSS_FILES,
        "images": IMAGES,
        "excluded": 3 * EXCLUDED_PER_KIND,
        "total": CSS_FILES + IMAGES + 3 * EXCLUDED_PER_KIND,
    }


def collect(impl: str, source: Path, static_root: Path) -> float:
    """``collectstatic --noinput --clear`` of ``source`` into ``static_root``; return the wall time."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": STORAGE_CLASSES[impl], "OPTIONS": {"exclude_patterns": EXCLUDE_PATTERNS}},
    }
    # override_settings resets staticfiles_storage and the finders' cache: each run gets a new
    # storage instance (and so an empty hashed_files) and finds the files anew.
    with override_settings(
        STATIC_ROOT=str(static_root),
        STATIC_URL="/static/",
        STATICFILES_DIRS=[str(source)],
        STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
        STORAGES=storages,
    ):
        t0 = time.perf_counter()
        call_command("collectstatic", interactive=False, clear=True, verbosity=0)
        return time.perf_counter() - t0


def output_names(static_root: Path) -> set[str]:
    return {p.relative_to(static_root).as_posix() for p in static_root.rglob("*") if p.is_file()}


def _is_excluded(name: str) -> bool:
    return name.startswith("frontend/build/")


#: Run in a fresh interpreter: load the manifest in strict mode and ask for two URLs.
_STRICT_PROBE = """
import json, sys
import django
django.setup()
from django.utils.module_loading import import_string
cls, root, patterns, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
storage = import_string(cls)(location=root, base_url="/static/", exclude_patterns=patterns)
storage.manifest_strict = True  # a class attribute (True by default), not an option
out = {}
for name in names:
    try:
        out[name] = storage.url(name)
    except Exception as e:
        out[name] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
"""


def strict_probe(impl: str, static_root: Path) -> dict[str, str]:
    """In a fresh process (DEBUG off, as in bench settings): ``storage.url()`` of an excluded and a kept file."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["DJANGO_SETTINGS_MODULE"] = "bench_project.settings"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _STRICT_PROBE,
            STORAGE_CLASSES[impl],
            str(static_root),
            json.dumps(EXCLUDE_PATTERNS),
            EXCLUDED_PROBE,
            KEPT_PROBE,
        ],
        cwd=BENCH_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"strict probe ({impl}) failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass
class CollectResult:
    impl: str
    times: list[float] = field(default_factory=list)
    outputs: set[str] = field(default_factory=set)
    manifest_paths: dict[str, str] = field(default_factory=dict)
    probe: dict[str, str] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.times)

    @property
    def excluded_outputs(self) -> set[str]:
        return {n for n in self.outputs if _is_excluded(n)}

    @property
    def excluded_in_manifest(self) -> int:
        return sum(1 for n in self.manifest_paths if _is_excluded(n))

    @property
    def strict_resolves_excluded(self) -> bool:
        return self.probe.get(EXCLUDED_PROBE) == "/static/" + EXCLUDED_PROBE


@dataclass
class CollectReport:
    tree: dict[str, int]
    ours: CollectResult
    ref: CollectResult
    findings: list[str] = field(default_factory=list)


def _check_run(res: CollectResult, static_root: Path, tree: dict[str, int]) -> None:
    """What each run must produce, whatever the implementation (raises AssertionError)."""
    outputs = output_names(static_root)
    excluded = {n for n in outputs if _is_excluded(n)}
    if len(excluded) != tree["excluded"]:
        raise AssertionError(f"{res.impl}: {len(excluded)} files under frontend/build/, expected {tree['excluded']}")
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    paths = manifest["paths"]
    hashed = paths.get(KEPT_PROBE)
    if not hashed or hashed == KEPT_PROBE or hashed not in outputs:
        raise AssertionError(f"{res.impl}: {KEPT_PROBE} not hashed in the manifest: {hashed!r}")
    page = (static_root / hashed).read_text()
    if "../../frontend/build/static/media/asset-000.png" not in page or "../base/core/base-00." not in page:
        raise AssertionError(f"{res.impl}: references in {hashed} not as expected:\n{page[:600]}")
    res.outputs, res.manifest_paths = outputs, paths


def bench_collectstatic(work_dir: Path, runs: int, log: Any) -> CollectReport:
    """Warm up once per side, then ``runs`` timed runs per side, alternating which goes first."""
    started = time.perf_counter()
    source = work_dir / "static-src"
    roots = work_dir / "static-root"
    tree = make_tree(source)
    shutil.rmtree(roots, ignore_errors=True)
    results = {impl: CollectResult(impl) for impl in STORAGE_CLASSES}
    order = list(STORAGE_CLASSES)
    try:
        for r in range(runs + 1):  # run 0 warms up (imports, compiled patterns), untimed
            for impl in order if r % 2 == 0 else order[::-1]:
                static_root = roots / f"{impl}-{r}"
                static_root.mkdir(parents=True)
                os.sync()
                gc.collect()
                elapsed = collect(impl, source, static_root)
                if r > 0:
                    results[impl].times.append(elapsed)
                _check_run(results[impl], static_root, tree)
                if r < runs:
                    shutil.rmtree(static_root)
        for impl, res in results.items():
            res.probe = strict_probe(impl, roots / f"{impl}-{runs}")
    finally:
        shutil.rmtree(roots, ignore_errors=True)
        shutil.rmtree(source, ignore_errors=True)
    report = CollectReport(tree, results["ours"], results["ref"])
    ours, ref = report.ours, report.ref
    same_excluded = ours.excluded_outputs == ref.excluded_outputs
    report.findings.append(
        "excluded output names identical: "
        + (
            "yes"
            if same_excluded
            else f"NO (only ours: {sorted(ours.excluded_outputs - ref.excluded_outputs)[:5]}, "
            f"only ref: {sorted(ref.excluded_outputs - ours.excluded_outputs)[:5]})"
        )
        + f" ({len(ours.excluded_outputs)} names, no hashed copies)"
    )
    report.findings.append(
        "all output names identical: "
        + ("yes" if ours.outputs == ref.outputs else "no")
        + f" ({len(ours.outputs)} / {len(ref.outputs)} files, staticfiles.json included)"
    )
    kept = {k: v for k, v in ours.manifest_paths.items() if not _is_excluded(k)}
    kept_ref = {k: v for k, v in ref.manifest_paths.items() if not _is_excluded(k)}
    report.findings.append(
        "manifest entries of the collected (not excluded) files identical: " + ("yes" if kept == kept_ref else "no")
    )
    if not same_excluded:
        raise AssertionError(report.findings[0])
    log(f"  11 collectstatic: {runs} runs each, {time.perf_counter() - started:.1f} s")
    return report


def collect_table(report: CollectReport) -> str:
    out = (
        "| implementation | runs | median s | mean s | min s | output files | manifest entries "
        "| excluded names in manifest | fresh `manifest_strict=True` process: `url()` of an excluded file |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    for res in (report.ours, report.ref):
        probe = res.probe.get(EXCLUDED_PROBE, "?")
        answer = f"yes (`{probe}`)" if res.strict_resolves_excluded else f"no (`{probe}`)"
        out += (
            f"| {res.impl} | {len(res.times)} | {res.median_s:.3f} | {res.mean_s:.3f} | {min(res.times):.3f} "
            f"| {len(res.outputs)} | {len(res.manifest_paths)} | {res.excluded_in_manifest} | {answer} |\n"
        )
    ratio = report.ref.median_s / report.ours.median_s
    out += (
        f"\nours/ref (speed, ref median s / ours median s; > 1: ours is faster): **{ratio:.2f}** "
        f"(by mean: {report.ref.mean_s / report.ours.mean_s:.2f})\n\n"
    )
    out += "".join(f"- {line}\n" for line in report.findings)
    return out
