"""This app installs beside the seed's published package (alliance-platform-storage) in one project."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_both_apps_in_one_project():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.coexist.settings", "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "coexist" / "probe.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # No fields.E304 (reverse accessor clash on ContentType) nor any other warning or error.
    assert report["checks"] == []
    assert report["ours_table"] == "async_uploads_asynctempfile"
    # Our URL names live in our namespace; the seed's un-namespaced names still resolve.
    assert report["ours_generate"] == "/async-uploads/generate-upload-url/"
    assert report["seed_upload"] == "/seed-uploads/upload-file-direct/"
    # Models without async fields get no post_save receiver of ours.
    assert report["ours_receivers_on_user"] == []
