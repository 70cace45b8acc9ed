"""The services' image (the root Dockerfile, built once per service), checked without a
container engine.

No Docker engine runs on our machines or in CI, so the Dockerfile is read line by line, as
each service's build arguments make it: a builder stage installs only this service from
uv.lock, the final stage is slim, runs as an unprivileged numeric user, says how to check its
health and holds no secret. The few shell commands it runs are run here too.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.deploy import dockerfiles
from tests.deploy.dockerfiles import build_args, http_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir())
NON_ROOT_UID = "10001"
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "PRIVATE_KEY", "ACCESS_KEY", "AMQP_URL", "DATABASE_URL")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> list[Stage]:
    """Split a Dockerfile into stages of instructions (continuations joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends with a line continuation"

    stages: list[Stage] = []
    current: list[Instruction] = []
    header: tuple[str, str | None] | None = None
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            if header is not None:
                stages.append(Stage(header[0], header[1], tuple(current)))
            words = instruction.arguments.split()
            header = (words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None)
            current = []
        elif header is not None:
            current.append(instruction)
    if header is not None:
        stages.append(Stage(header[0], header[1], tuple(current)))
    return stages


def dockerfile(service: str) -> list[Stage]:
    """The Dockerfile's stages as this service's build arguments make them."""
    assert dockerfiles.PATH.is_file(), "the Dockerfile at the repository root is missing"
    return parse(dockerfiles.resolve(dockerfiles.PATH.read_text(), build_args(service)))


def image_environment(service: str) -> dict[str, str]:
    """What the final stage's ENV sets (PATH aside: it extends the base image's)."""
    pairs = (word.partition("=") for env in dockerfile(service)[-1].all("ENV") for word in shlex.split(env))
    return {key: value for key, _, value in pairs if key != "PATH"}


def test_one_dockerfile_builds_every_service() -> None:
    assert SERVICES == ["archive", "notifier", "pickup", "signer", "verification"]
    assert tuple(SERVICES) == dockerfiles.SERVICES
    copies = sorted((ROOT / "services").glob("*/Dockerfile"))
    assert not copies, f"{copies}: every image is built from the root Dockerfile"


def test_the_build_arguments_are_the_ones_the_dockerfile_declares() -> None:
    stages = parse(dockerfiles.PATH.read_text())
    for stage in stages[1:]:
        declared = {arg.partition("=")[0] for arg in stage.all("ARG")}
        assert declared == set(build_args("archive")), f"stage {stage.name or 'final'} declares {declared}"
        assert not any("=" in arg for arg in stage.all("ARG")), "no default: each image is for one service"


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_name_gives_its_package_module_and_settings_prefix(service: str) -> None:
    """What the Dockerfile derives from SERVICE, and what its argument check relies on."""
    project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]
    assert project["name"] == f"lre-{service}"
    assert (ROOT / "services" / service / "src" / service / "main.py").is_file()
    assert build_args(service)["SETTINGS_PREFIX"] == service.upper()


def test_the_parser_joins_continuations_and_splits_stages() -> None:
    stages = parse("FROM a AS one\n# note\nRUN x \\\n    y\nFROM b\nUSER 1\n")
    assert [(s.base, s.name) for s in stages] == [("a", "one"), ("b", None)]
    assert stages[0].all("RUN") == ["x y"]
    assert stages[1].all("USER") == ["1"]


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_built_in_stages_with_a_slim_final_stage(service: str) -> None:
    stages = dockerfile(service)
    builders = [s for s in stages[:-1] if s.all("RUN")]
    assert builders, "no builder stage: dependencies must be installed before the final stage"
    final = stages[-1]
    assert final.all("COPY"), "the final stage copies the built environment"
    assert all("--from=" in copy for copy in final.all("COPY")), "the final stage takes only built artefacts"
    assert not any("uv " in run or "pip " in run for run in final.all("RUN")), (
        "nothing installed in the final stage"
    )
    base = final.base
    if base.startswith("${"):  # FROM ${PYTHON_IMAGE}: resolve the ARG's default
        arg = base.strip("${}")
        text = dockerfiles.PATH.read_text()
        found = re.search(rf"^ARG {arg}=(\S+)", text, re.MULTILINE)
        assert found, f"ARG {arg} has no default"
        base = found.group(1)
    assert "slim" in base or "distroless" in base, f"final image {base} is not a slim one"


@pytest.mark.parametrize("service", SERVICES)
def test_only_this_service_is_installed_from_the_lock_file(service: str) -> None:
    runs = [run for stage in dockerfile(service)[:-1] for run in stage.all("RUN")]
    syncs = [shlex.split(run) for run in runs if "uv sync" in run]
    assert syncs, "no `uv sync` in the builder"
    for words in syncs:
        assert "--frozen" in words, "uv sync must install exactly what uv.lock pins"
        assert "--no-dev" in words
        assert words[words.index("--package") + 1] == f"lre-{service}"


@pytest.mark.parametrize("service", SERVICES)
def test_final_stage_runs_as_an_unprivileged_numeric_user(service: str) -> None:
    users = dockerfile(service)[-1].all("USER")
    assert users, "no USER in the final stage: the service would run as root"
    user = users[-1].split(":")[0]
    assert user == NON_ROOT_UID, (
        f"USER {users[-1]}: expected uid {NON_ROOT_UID} (runAsNonRoot checks a number)"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_image_exposes_the_service_port_and_listens_beyond_the_container(service: str) -> None:
    assert dockerfile(service)[-1].all("EXPOSE") == [str(http_port(service))]
    environment = image_environment(service)
    assert environment[f"{service.upper()}_HTTP_HOST"] == "0.0.0.0", (
        "the service binds 127.0.0.1 by default: unreachable from outside the container"
    )
    assert environment[f"{service.upper()}_HTTP_PORT"] == str(http_port(service))


def run_shell(command: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", command], env=environment, capture_output=True, text=True, timeout=30, check=False
    )


def argument_check() -> str:
    """The builder's first command: it checks the build arguments before anything is built."""
    builder = next(s for s in parse(dockerfiles.PATH.read_text()) if s.name == "builder")
    return builder.all("RUN")[0]


@pytest.mark.parametrize("service", SERVICES)
def test_a_build_with_the_service_arguments_goes_on(service: str) -> None:
    # Docker gives a stage's build arguments to its RUN commands as environment variables.
    result = run_shell(argument_check(), {**build_args(service), "PATH": os.defpath})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", ["SERVICE", "SETTINGS_PREFIX", "HTTP_PORT"])
def test_a_build_lacking_an_argument_stops_at_once_saying_what_to_give(missing: str) -> None:
    arguments = {k: v for k, v in build_args("archive").items() if k != missing}

    result = run_shell(argument_check(), {**arguments, "PATH": os.defpath})

    assert result.returncode == 1
    assert "--build-arg SERVICE=<name>" in result.stderr
    assert "deploy/compose/compose.yaml" in result.stderr


def test_a_build_with_another_service_settings_prefix_stops() -> None:
    arguments = {**build_args("archive"), "SETTINGS_PREFIX": "PICKUP"}
    assert run_shell(argument_check(), {**arguments, "PATH": os.defpath}).returncode == 1


@pytest.mark.parametrize("service", SERVICES)
def test_image_runs_the_service_module_as_the_container_first_process(service: str, tmp_path: Path) -> None:
    # A stand-in for the image's python: it tells its process id and its arguments.
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\necho "$$" "$@"\n')
    python.chmod(0o755)
    (command,) = dockerfile(service)[-1].all("CMD")
    environment = {**image_environment(service), "PATH": f"{tmp_path}{os.pathsep}{os.defpath}"}

    shell = subprocess.Popen(json.loads(command), env=environment, stdout=subprocess.PIPE, text=True)
    out, _ = shell.communicate(timeout=30)

    pid, *argv = out.split()
    assert argv == ["-m", f"{service}.main"]
    # exec: Python replaces the shell, so SIGTERM reaches the service itself.
    assert int(pid) == shell.pid


class Liveness(BaseHTTPRequestHandler):
    """A service's /health/live, quiet."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health/live" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("service", SERVICES)
def test_health_probe_asks_the_port_the_service_listens_on(service: str) -> None:
    (healthcheck,) = dockerfile(service)[-1].all("HEALTHCHECK")
    _options, _, probe = healthcheck.partition(" CMD ")
    python = Path(sys.executable).parent
    environment = {**image_environment(service), "PATH": f"{python}{os.pathsep}{os.defpath}"}
    port_variable = f"{service.upper()}_HTTP_PORT"
    assert environment[port_variable] == str(http_port(service))

    with ThreadingHTTPServer(("127.0.0.1", 0), Liveness) as service_port:
        threading.Thread(target=service_port.serve_forever, daemon=True).start()
        # The port the service's settings read, here as an operator would change it at run time.
        environment[port_variable] = str(service_port.server_address[1])
        answered = run_shell(probe, environment).returncode
        service_port.shutdown()
    environment[port_variable] = str(closed_port())
    unanswered = run_shell(probe, environment).returncode

    assert (answered, unanswered) == (0, 1)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("service", SERVICES)
def test_image_holds_no_secret(service: str) -> None:
    for stage in dockerfile(service):
        for line in stage.all("ENV") + stage.all("ARG"):
            for word in SECRET_WORDS:
                assert word not in line.upper(), f"{line!r}: secrets come from the environment at run time"


@pytest.mark.parametrize("service", SERVICES)
def test_copy_sources_exist_in_the_build_context(service: str) -> None:
    """The build context is the repository root (compose.yaml builds with context ../..)."""
    for stage in dockerfile(service):
        for copy in stage.all("COPY"):
            words = [w for w in shlex.split(copy) if not w.startswith("--")]
            if "--from=" in copy:
                continue
            *sources, _destination = words
            assert sources, f"COPY {copy}: no source"
            for source in sources:
                assert glob.glob(str(ROOT / source)), f"COPY {copy}: {source} is not in the repository"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_context() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in ("**/.git", "**/.venv", "var/", "**/.env", "tests/", "services/*/tests/"):
        assert required in patterns, f".dockerignore lacks {required}"
    for needed in ("uv.lock", "pyproject.toml", "shared", "services"):
        assert needed not in patterns, f".dockerignore excludes {needed}, which the images need"
