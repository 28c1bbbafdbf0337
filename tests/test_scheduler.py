"""scheduler.yaml is a valid Cloud Scheduler job, targets the app's POST /run, and matches deploy/gcp.sh."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import string
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

scheduler_v1 = pytest.importorskip("google.cloud.scheduler_v1", reason="google-cloud-scheduler is a test dependency")

ROOT = Path(__file__).resolve().parent.parent
SERVICE_URL = "https://driftline-123456789012.europe-west1.run.app"
SCHEDULER_SA = "driftline-scheduler@my-project.iam.gserviceaccount.com"
VALUES = {"SERVICE_URL": SERVICE_URL, "SCHEDULER_SA": SCHEDULER_SA, "PROJECT_ID": "my-project",
          "REGION": "europe-west1"}


def _rendered() -> dict[str, Any]:
    # The same substitution docs/deploy.md tells users to run; a leftover ${...} fails here.
    text = string.Template((ROOT / "scheduler.yaml").read_text()).substitute(VALUES)
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def job() -> Any:
    # from_json refuses unknown fields: a misspelt key (timezone, oidcTokens, ...) fails this fixture.
    return scheduler_v1.Job.from_json(json.dumps(_rendered()))


def test_a_misspelt_field_would_be_refused() -> None:
    data = _rendered()
    data["httpTarget"]["oidcToken"]["serviceAcountEmail"] = data["httpTarget"]["oidcToken"].pop(
        "serviceAccountEmail"
    )
    with pytest.raises(Exception, match="serviceAcountEmail"):
        scheduler_v1.Job.from_json(json.dumps(data))


def test_job_posts_to_run_with_an_oidc_token_for_the_service(job: Any) -> None:
    target = job.http_target
    assert target.http_method == scheduler_v1.HttpMethod.POST
    assert target.uri == f"{SERVICE_URL}/run"
    assert target.oidc_token.service_account_email == SCHEDULER_SA
    # The service verifies this audience: the bare service URL, not the /run URL.
    assert target.oidc_token.audience == SERVICE_URL
    assert not target.oauth_token.service_account_email  # OAuth access tokens are for Google APIs only


def test_schedule_retry_and_deadline(job: Any) -> None:
    assert job.schedule.split()[1:] == ["*", "*", "*", "*"]  # hourly
    assert job.time_zone == "Etc/UTC"
    # HTTP targets allow 15 s to 30 min; a run needs the upper end, and Cloud Run --timeout matches it.
    deadline = job.attempt_deadline.total_seconds()
    assert 600 <= deadline <= 1800
    retry = job.retry_config
    assert 1 <= retry.retry_count <= 5
    assert retry.min_backoff_duration.total_seconds() <= retry.max_backoff_duration.total_seconds()
    assert job.name == "projects/my-project/locations/europe-west1/jobs/driftline-run"


def test_target_matches_the_apps_route(job: Any, tmp_path: Path) -> None:
    if importlib.util.find_spec("monitor.api.app") is None:
        pytest.skip("monitor/app.py does not exist yet: cannot check the route")
    from monitor.api.app import create_app
    from monitor.config import Settings

    shutil.copy(ROOT / "monitor" / "demo" / "examples" / "wheel-assembly.yaml", tmp_path)
    app = create_app(Settings(config_dir=str(tmp_path), auth_mode="local-open"))
    path = urlparse(job.http_target.uri).path
    methods = {m for r in app.routes if getattr(r, "path", None) == path for m in getattr(r, "methods", ())}
    assert "POST" in methods, f"the app has no POST {path}; routes: {sorted(r.path for r in app.routes)}"


_FLAG = re.compile(r"^--([a-z-]+)(?:=(.*))?$")


def _documented_gcloud_flags() -> dict[str, str]:
    """The flags deploy/gcp.sh creates the job with (its --dry-run prints the command)."""
    import os
    import subprocess

    env = {**os.environ, "PROJECT_ID": "my-project", "REGION": "europe-west1"}
    out = subprocess.run(["bash", str(ROOT / "deploy" / "gcp.sh"), "--dry-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("+ gcloud scheduler jobs create http driftline-run ")),
                None)
    assert line, "deploy/gcp.sh creates no 'gcloud scheduler jobs create http driftline-run' job"
    flags = {}
    for token in shlex.split(line)[7:]:
        flag = _FLAG.match(token)
        assert flag, f"unexpected token {token!r} in the script's gcloud command"
        flags[flag.group(1)] = flag.group(2) or ""
    return flags


def test_documented_gcloud_command_agrees_with_the_file(job: Any) -> None:
    flags = _documented_gcloud_flags()
    retry = job.retry_config
    expected = {
        "location": "europe-west1",
        "schedule": job.schedule,
        "time-zone": job.time_zone,
        "uri": job.http_target.uri,
        "http-method": scheduler_v1.HttpMethod(job.http_target.http_method).name,
        "oidc-service-account-email": job.http_target.oidc_token.service_account_email,
        "oidc-token-audience": job.http_target.oidc_token.audience,
        "attempt-deadline": f"{int(job.attempt_deadline.total_seconds())}s",
        "max-retry-attempts": str(retry.retry_count),
        "max-retry-duration": f"{int(retry.max_retry_duration.total_seconds())}s",
        "min-backoff": f"{int(retry.min_backoff_duration.total_seconds())}s",
        "max-backoff": f"{int(retry.max_backoff_duration.total_seconds())}s",
        "max-doublings": str(retry.max_doublings),
    }
    assert flags == expected
