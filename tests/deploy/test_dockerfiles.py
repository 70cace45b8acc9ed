"""Each service's image (services/<name>/Dockerfile), checked without a container engine.

No Docker engine runs on our machines or in CI, so the Dockerfiles are read line by line:
a builder stage installs only this service from uv.lock, the final stage is slim, runs as
an unprivileged numeric user, says how to check its health and holds no secret.
"""

from __future__ import annotations

import glob
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy import dockerfiles
from tests.deploy.dockerfiles import http_port

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
    path = ROOT / "services" / service / "Dockerfile"
    assert path.is_file(), f"services/{service}/Dockerfile is missing"
    return parse(path.read_text())


def test_the_five_services_have_a_dockerfile() -> None:
    assert SERVICES == ["archive", "notifier", "pickup", "signer", "verification"]
    for service in SERVICES:
        assert (ROOT / "services" / service / "Dockerfile").is_file()


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_is_the_one_template_written_for_the_service(service: str) -> None:
    assert dockerfiles.path(service).read_text() == dockerfiles.render(service), (
        f"services/{service}/Dockerfile differs from its template: edit tests/deploy/dockerfiles.py "
        "and run `uv run python -m tests.deploy.dockerfiles`"
    )


def test_the_template_knows_every_service() -> None:
    assert tuple(SERVICES) == dockerfiles.SERVICES


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
        text = (ROOT / "services" / service / "Dockerfile").read_text()
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
def test_image_checks_liveness_and_exposes_the_service_port(service: str) -> None:
    final = dockerfile(service)[-1]
    healthchecks = final.all("HEALTHCHECK")
    assert len(healthchecks) == 1
    assert "/health/live" in healthchecks[0]
    assert final.all("EXPOSE") == [str(http_port(service))]
    assert any(f"{service.upper()}_HTTP_HOST=0.0.0.0" in env for env in final.all("ENV")), (
        "the service binds 127.0.0.1 by default: unreachable from outside the container"
    )
    assert final.all("CMD") == [f'["python", "-m", "{service}.main"]']


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
