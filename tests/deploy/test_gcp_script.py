"""deploy/gcp.sh: every Cloud SDK command and flag it runs is in the recorded reference, in a safe order.

The script is run for real in --dry-run mode (it prints each command instead of running it), with
fake gcloud/bq/driftline on the PATH that would record any call: a dry run calls none of them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "gcp.sh"
REFERENCE = Path(__file__).with_name("gcloud_reference.txt")
SDK = ("gcloud", "bq", "gsutil")


def _reference() -> dict[tuple[str, ...], set[str]]:
    out: dict[tuple[str, ...], set[str]] = {}
    for line in REFERENCE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            command, flags, _source = (part.strip() for part in line.split("|"))
            out[tuple(command.split())] = set(flags.split())
    return out


def _dry_run(tmp_path: Path) -> tuple[list[list[str]], Path]:
    fakes, calls = tmp_path / "bin", tmp_path / "calls.log"
    fakes.mkdir()
    for tool in (*SDK, "driftline"):
        (fakes / tool).write_text(f"#!/bin/sh\necho {tool} \"$@\" >> {calls}\nexit 1\n")
        (fakes / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{fakes}:{os.environ['PATH']}", "CONFIG_DIR": str(tmp_path / "config"),
           "PROJECT_ID": "my-project", "REGION": "europe-west1"}
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = [ln[2:] for ln in (done.stdout + done.stderr).splitlines() if ln.startswith("+ ")]
    return [shlex.split(ln) for ln in lines], calls


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    commands, calls = _dry_run(tmp_path_factory.mktemp("gcp"))
    assert not calls.exists(), f"a dry run called the SDK: {calls.read_text()}"
    return commands


def _match(argv: list[str], reference: dict[tuple[str, ...], set[str]]) -> tuple[str, ...] | None:
    words = [w for w in argv if not w.startswith("-")]
    for n in range(len(words), 0, -1):
        if tuple(words[:n]) in reference:
            return tuple(words[:n])
    return None


def test_the_script_is_strict_bash_with_its_settings_at_the_top() -> None:
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    settings = text.index("# ---- settings")
    assert settings < text.index("run() {") and re.search(r"^PROJECT_ID=\$\{PROJECT_ID:-", text, re.M)


def test_every_sdk_command_and_flag_is_in_the_recorded_reference(printed: list[list[str]]) -> None:
    reference = _reference()
    wide = reference[("gcloud", "*")]
    used: set[tuple[str, ...]] = set()
    for argv in (c for c in printed if c[0] in SDK):
        command = _match(argv, reference)
        assert command is not None, f"not in {REFERENCE.name}: {' '.join(argv[:4])}"
        used.add(command)
        allowed = reference[command] | (wide if argv[0] == "gcloud" else set())
        for token in argv:
            if token.startswith("--"):
                flag = token[2:].split("=", 1)[0]
                assert flag in allowed, f"{' '.join(command)}: --{flag} is not in {REFERENCE.name}"
    # And the reference lists nothing the script does not use (it stays the script's own record). The
    # job's update, run instead of its create when the job exists, takes the same flags (job_flags).
    assert "run gcloud scheduler jobs update http driftline-run \"${job_flags[@]}\"" in SCRIPT.read_text()
    assert set(reference) - {("gcloud", "*")} == used | {("gcloud", "scheduler", "jobs", "update", "http")}


def test_each_resource_is_looked_up_before_it_is_created(printed: list[list[str]]) -> None:
    for i, argv in enumerate(printed):
        words = [w for w in argv if not w.startswith("-")]
        if argv[0] in SDK and ("create" in words or words[:2] == ["bq", "mk"]):
            if words[:5] == ["gcloud", "beta", "services", "identity", "create"]:
                continue  # creating a service identity that exists returns it: idempotent by itself
            before = [w for w in printed[i - 1] if not w.startswith("-")]
            verb = "mk" if argv[0] == "bq" else "create"
            check = next((v for v in ("describe", "show") if v in before), None)
            assert check, f"{' '.join(argv[:5])} is not preceded by a describe/show"
            # The same command group and the same resource (a service account is described by its email).
            assert before[: before.index(check)] == words[: words.index(verb)], (before, words)
            created = [w for w in words[words.index(verb) + 1:] if w != "http"]  # `jobs create http NAME`
            assert before[before.index(check) + 1].startswith(created[0]), (before, words)


def test_the_order_works_buckets_and_grants_before_the_mount_config_before_the_service(
        printed: list[list[str]]) -> None:
    text = [" ".join(c) for c in printed]

    def first(pattern: str) -> int:
        return next(i for i, t in enumerate(text) if re.search(pattern, t))

    deploy = first(r"^gcloud beta run deploy ")
    assert first(r"storage buckets create gs://my-project-driftline-reports") < deploy
    assert first(r"storage buckets add-iam-policy-binding gs://my-project-driftline-reports") < deploy
    assert first(r"storage rsync .*gs://my-project-driftline-config") < deploy
    assert first(r"^mkdir -p .*config") < first(r"^driftline init") < deploy
    assert first(r"secrets add-iam-policy-binding") < deploy
    assert first(r"iam service-accounts create model-serving") < first(r"TO 'serviceAccount:model-serving@")
    assert first(r"iap web add-iam-policy-binding") > deploy and first(r"scheduler jobs create http") > deploy
    # IAP on the service itself is the readers' path (the load balancer is docs/deploy.md's alternative).
    assert "--iap" in printed[deploy] and "--no-invoker-iam-check" in printed[deploy]
    grants = text[first(r"^bq query ")]
    assert "dataViewer` ON SCHEMA `my-project.ml_logs` TO 'serviceAccount:driftline-run@" in grants
    assert "dataEditor` ON SCHEMA `my-project.driftline` TO 'serviceAccount:driftline-run@" in grants


def test_an_unknown_argument_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--dryrun"], cwd=ROOT, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 2 and "usage" in done.stderr
