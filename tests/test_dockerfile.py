"""The Dockerfile's rules, checked statically, and its build and start replayed without Docker.

Docker is not available on these machines. The slow test replays the Dockerfile instead: it builds the
build context with .dockerignore applied, gives each stage its own empty root folder (absolute image paths
such as /opt/driftline are mapped under it), runs each RUN with ``sh -c`` and each COPY as a copy, with
the host's Python 3.11 standing in for the base image. It skips only the steps that need root in a real
image (apt-get, useradd), deletes the builder stage before starting the final one, then starts the CMD
(with --host 127.0.0.1 instead of 0.0.0.0) and checks GET /healthz and the HEALTHCHECK command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# Steps that need root inside a real image and mean nothing on the host.
SYSTEM_COMMANDS = ("apt-get", "groupadd", "useradd", "adduser", "chown")


@dataclass
class Stage:
    """One FROM ... AS name block of the Dockerfile."""

    base: str
    name: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def args(self, instruction: str) -> list[str]:
        return [a for op, a in self.steps if op == instruction]


def parse_dockerfile(text: str) -> list[Stage]:
    """Split a Dockerfile into stages of (instruction, arguments), continuation lines joined."""
    joined = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", text)
    build_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), re.sub(r"\s+", " ", rest.strip())
        if op == "ARG" and not stages:
            name, _, default = rest.partition("=")
            build_args[name] = default
        elif op == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: build_args.get(m.group(1), ""), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base, name))
        else:
            stages[-1].steps.append((op, rest))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def _env_pairs(args: str) -> dict[str, str]:
    return {k: v for k, _, v in (pair.partition("=") for pair in shlex.split(args))}


# --- static rules ------------------------------------------------------------------------------


def test_multi_stage_on_python_311_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert all(re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", s.base) for s in stages)
    final = stages[-1]
    assert not any("apt-get install" in r or "pip install -r" in r for r in final.args("RUN")), (
        "the final stage must not install compilers or build requirements"
    )
    assert [c for c in final.args("COPY") if c.startswith("--from=")], "the final stage copies from the builder"


def test_final_stage_runs_as_non_root_with_healthcheck_and_port(stages: list[Stage]) -> None:
    final = stages[-1]
    users = final.args("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [op for op, _ in final.steps].index("USER") < [op for op, _ in final.steps].index("CMD")
    (healthcheck,) = final.args("HEALTHCHECK")
    assert "/healthz" in healthcheck and "PORT" in healthcheck
    (cmd,) = final.args("CMD")
    assert "uvicorn monitor.api.app:app" in cmd
    assert "--host 0.0.0.0" in cmd and "--port ${PORT:-8080}" in cmd
    env = {k: v for args in final.args("ENV") for k, v in _env_pairs(args).items()}
    assert env.get("DRIFTLINE_CONFIG_DIR", "").startswith("/")
    assert env.get("DRIFTLINE_AUTH_MODE") == "google", "the image must fail closed without auth settings"


def test_no_secrets_in_the_image(stages: list[Stage]) -> None:
    secret = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIALS)", re.IGNORECASE)
    for stage in stages:
        for op, args in stage.steps:
            if op in ("ENV", "ARG"):
                for name, value in _env_pairs(args).items():
                    assert not (secret.search(name) and value), f"{op} {name} bakes a secret into the image"
            if op == "COPY":
                assert not re.search(r"\.env\b|\.pem\b|\.key\b|credentials|service-account", args), args


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = "".join(
            ".*" if part == "**" else "[^/]*" if part == "*" else "[^/]" if part == "?" else re.escape(part)
            for part in re.split(r"(\*\*|\*|\?)", pattern)
        ).replace(".*/", "(.*/)?")
        rules.append((negate, re.compile(regex + "$")))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negate, regex in rules:
        if any(regex.match(c) for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_copy_needs_and_drops_the_rest(stages: list[Stage]) -> None:
    rules = _dockerignore_patterns()
    for stage in stages:
        for args in stage.args("COPY"):
            if args.startswith("--from="):
                continue
            for source in [w for w in args.split() if not w.startswith("--")][:-1]:
                assert not is_ignored(source.rstrip("/"), rules), f"COPY {source} but .dockerignore drops it"
    for dropped in [".git/config", ".venv/bin/python", "tests/test_x.py", ".env", "key.pem",
                    "monitor/__pycache__/app.cpython-311.pyc", "driftline.duckdb", "sa-credentials.json"]:
        assert is_ignored(dropped, rules), f".dockerignore lets {dropped} into the build context"


def test_requirements_are_pinned() -> None:
    requirements = ROOT / "requirements.txt"
    if not requirements.exists():
        pytest.skip("requirements.txt does not exist yet")
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            assert re.match(r"^[A-Za-z0-9_.\[\],-]+==[^=*]+(;.*)?$", line), f"not pinned: {line!r}"


# --- the replay --------------------------------------------------------------------------------


class Replay:
    """Replays a parsed Dockerfile on the host: one root folder per stage, absolute paths mapped under it."""

    def __init__(self, stages: list[Stage], workdir: Path) -> None:
        self.stages = stages
        self.workdir = workdir
        self.context = workdir / "context"
        self.skipped: list[str] = []
        python_bin = Path(getattr(sys, "_base_executable", sys.executable)).parent
        # What the base image provides: Python 3.11 on PATH, a shell; pip's own config and caches.
        self.base_env = {
            "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", str(workdir)),
            "LANG": "C.UTF-8",
            **{k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.lower().endswith("_proxy")},
        }
        self.image_paths = sorted(self._image_paths(), key=len, reverse=True)

    def _image_paths(self) -> set[str]:
        paths: set[str] = set()
        for stage in self.stages:
            for op, args in stage.steps:
                if op == "WORKDIR":
                    paths.add(args)
                elif op == "COPY":
                    dest = args.split()[-1]
                    if dest.startswith("/"):
                        paths.add(dest.rstrip("/"))
                elif op == "ENV":
                    for value in _env_pairs(args).values():
                        paths |= {p for p in value.split(":") if re.fullmatch(r"/(opt|src|app|etc/driftline)(/.*)?", p)}
        return paths

    def root(self, stage: str) -> Path:
        return self.workdir / "stages" / stage

    def map(self, text: str, stage: str) -> str:
        pattern = "|".join(re.escape(p) for p in self.image_paths)
        return re.sub(rf"(?<![\w./-])({pattern})(?=[/\s\"':]|$)", lambda m: f"{self.root(stage)}{m.group(1)}", text)

    def build_context(self) -> None:
        rules = _dockerignore_patterns()
        for folder, dirs, files in os.walk(ROOT):
            base = Path(folder).relative_to(ROOT)
            # Prune ignored folders (.venv, .git) instead of walking them file by file.
            dirs[:] = [d for d in dirs if not is_ignored((base / d).as_posix(), rules)]
            for name in files:
                relative = (base / name).as_posix()
                if not is_ignored(relative, rules):
                    target = self.context / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / relative, target)

    def run_stage(self, stage: Stage) -> dict[str, str]:
        env = dict(self.base_env)
        cwd = self.root(stage.name)
        cwd.mkdir(parents=True, exist_ok=True)
        for op, args in stage.steps:
            if op == "ENV":
                for key, value in _env_pairs(args).items():
                    if key == "PIP_NO_CACHE_DIR":
                        continue  # the replay may reuse pip's cache to be quick
                    expanded = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
                    env[key] = self.map(expanded, stage.name)
            elif op == "WORKDIR":
                cwd = Path(self.map(args, stage.name))
                cwd.mkdir(parents=True, exist_ok=True)
            elif op == "COPY":
                self._copy(args, stage, cwd)
            elif op == "RUN":
                if args.split()[0] in SYSTEM_COMMANDS:
                    self.skipped.append(args)
                    continue
                done = subprocess.run(["sh", "-c", self.map(args, stage.name)], cwd=cwd, env=env,
                                      capture_output=True, text=True, check=False)
                assert done.returncode == 0, f"RUN {args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        env["_CWD"] = str(cwd)
        return env

    def _copy(self, args: str, stage: Stage, cwd: Path) -> None:
        words = args.split()
        flags = [w for w in words if w.startswith("--")]
        sources, dest = [w for w in words if not w.startswith("--")][:-1], words[-1]
        origin = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        target = Path(self.map(dest, stage.name)) if dest.startswith("/") else cwd / dest
        for source in sources:
            src = Path(self.map(source, origin)) if origin else self.context / source
            assert src.exists(), f"COPY {source}: not in the build context (or stage {origin})"
            into_dir = dest.endswith("/") or len(sources) > 1
            if src.is_dir():
                # Between stages, hard links give the same files as a copy of a ~1 GB venv, in seconds.
                copy = os.link if origin else shutil.copy2
                shutil.copytree(src, target, dirs_exist_ok=True, symlinks=True, copy_function=copy)
            else:
                (target if into_dir else target.parent).mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target / src.name if into_dir else target)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(command: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(["sh", "-c", command], cwd=env["_CWD"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # the group of the shell this test started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return process.stdout.read() if process.stdout else ""


def _wait_for_health(url: str, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    return -1


@pytest.mark.slow
def test_replayed_image_builds_starts_and_answers_healthz(stages: list[Stage], tmp_path: Path) -> None:
    missing = [p for p in ("requirements.txt", "README.md", "monitor/api/app.py") if not (ROOT / p).exists()]
    if missing:
        pytest.skip(f"cannot replay the image yet: {', '.join(missing)} missing")
    replay = Replay(stages, tmp_path)
    replay.build_context()
    assert not (replay.context / ".git").exists() and not (replay.context / "tests").exists()
    for stage in stages[:-1]:
        replay.run_stage(stage)
    env = replay.run_stage(stages[-1])
    # The final stage must stand alone: nothing may still point into the builder.
    for stage in stages[:-1]:
        shutil.rmtree(replay.root(stage.name))
    assert all(c.split()[0] in SYSTEM_COMMANDS for c in replay.skipped) and replay.skipped

    # What a deployment mounts or bakes in: a model config in $DRIFTLINE_CONFIG_DIR.
    config_dir = Path(env["DRIFTLINE_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "monitor" / "demo" / "examples" / "wheel-assembly.yaml", config_dir)
    (cmd,) = stages[-1].args("CMD")
    command = cmd.replace("--host 0.0.0.0", "--host 127.0.0.1")  # tests bind to loopback only
    assert command != cmd

    # As built, the image is in google auth mode: without its settings it must refuse to start.
    bare = _start(command, {**env, "PORT": str(_free_port())})
    try:
        bare.wait(timeout=120)
    finally:
        output = _stop(bare)
    assert bare.returncode not in (0, None), output
    assert "audience" in output, output

    port = _free_port()
    deployed = {**env, "PORT": str(port), "DRIFTLINE_PUBLIC_URL": "https://driftline-1.europe-west1.run.app",
                "DRIFTLINE_SCHEDULER_SERVICE_ACCOUNT": "driftline-scheduler@p.iam.gserviceaccount.com"}
    server = _start(command, deployed)
    try:
        assert _wait_for_health(f"http://127.0.0.1:{port}/healthz", server) == 200
        request = urllib.request.Request(f"http://127.0.0.1:{port}/run", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        (healthcheck,) = stages[-1].args("HEALTHCHECK")
        probe = json.loads(healthcheck[healthcheck.index("CMD") + 3:])
        assert subprocess.run(probe, env=deployed, cwd=env["_CWD"], timeout=30, check=False).returncode == 0
    finally:
        output = _stop(server)
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert lines and all("severity" in json.loads(line) for line in lines), output[-2000:]
