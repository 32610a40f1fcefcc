"""The compose file, its images and the local Procfile, validated by parsing (no Docker engine)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from finerag.cli.serve import SERVE_TARGETS
from shared.infrastructure.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROFILES = ("gpu", "cpu")
# The services of the issue; the GPU ones have a `-cpu` twin in the cpu profile.
REQUIRED = {
    "redis", "qdrant", "retrieval", "ingestion", "ingestion-worker", "trainer", "gateway",
    "tensorboard", "flower",
}  # fmt: skip
GPU_SERVICES = {"trainer", "gateway"}
# Variables a service may be given that are not FineRAG settings: only ones documented by the
# third-party software that reads them. Empty today; name the documentation when adding one.
THIRD_PARTY_VARIABLES: frozenset[str] = frozenset()

SETTINGS_VARIABLES = {f"FINERAG_{name.upper()}" for name in Settings.model_fields}
ENV_EXAMPLE_VARIABLES = set(
    re.findall(r"^#?\s*(FINERAG_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
)


def active(profile: str) -> dict[str, dict[str, Any]]:
    """The services `docker compose --profile PROFILE up` starts."""
    return {n: s for n, s in SERVICES.items() if not s.get("profiles") or profile in s["profiles"]}


def dockerfiles() -> dict[str, Path]:
    found = {}
    for name, service in SERVICES.items():
        if "build" in service:
            found[name] = ROOT / service["build"]["context"] / service["build"]["dockerfile"]
    return found


def test_every_service_of_the_stack_is_there_in_both_profiles():
    for profile in PROFILES:
        names = {n.removesuffix("-cpu") for n in active(profile)}
        assert names >= REQUIRED, (profile, REQUIRED - names)
        assert len(names) == len(active(profile)), f"a service and its twin both run in {profile}"


def test_build_contexts_and_dockerfiles_exist():
    for name, service in SERVICES.items():
        assert "build" in service or "image" in service, name
        if "build" in service:
            assert (ROOT / service["build"]["context"]).is_dir(), name
            assert dockerfiles()[name].is_file(), name
            assert dockerfiles()[name].parent == ROOT / "infra" / "docker", name


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies():
    for profile in PROFILES:
        services = active(profile)
        for name, service in services.items():
            assert service.get("healthcheck", {}).get("test"), name
            for dependency, condition in (service.get("depends_on") or {}).items():
                assert dependency in services, (profile, name, dependency)
                assert condition["condition"] == "service_healthy", (name, dependency)


def test_published_ports_are_unique_within_each_profile():
    for profile in PROFILES:
        host_ports = [
            str(port).split(":")[-2]  # [ip:]host:container
            for service in active(profile).values()
            for port in service.get("ports", [])
        ]
        assert len(host_ports) == len(set(host_ports)), (profile, host_ports)


def test_only_the_gateway_listens_beyond_loopback():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            if not str(port).startswith("127.0.0.1:"):
                assert name.removesuffix("-cpu") == "gateway", (name, port)


def test_environment_variables_are_known_settings_listed_in_env_example():
    for name, service in SERVICES.items():
        for variable in service.get("environment", {}):
            if variable.startswith("FINERAG_"):
                assert variable in SETTINGS_VARIABLES, (name, variable)
                assert variable in ENV_EXAMPLE_VARIABLES, (name, variable)
            else:
                assert variable in THIRD_PARTY_VARIABLES, (name, variable)
    for variable in re.findall(r"\$\{([A-Za-z0-9_]+)", COMPOSE_TEXT):  # interpolation
        assert variable in SETTINGS_VARIABLES | THIRD_PARTY_VARIABLES, variable


def test_finerag_services_read_their_settings_from_dot_env():
    for name, service in SERVICES.items():
        command = " ".join(service.get("command") or [])
        dockerfile = dockerfiles().get(name)
        runs_finerag = "finerag" in command or (
            dockerfile is not None and '"finerag", "serve"' in dockerfile.read_text()
        )
        if runs_finerag:
            assert [f["path"] for f in service["env_file"]] == [".env"], name


def test_gpu_services_reserve_an_nvidia_gpu_and_their_cpu_twins_do_not():
    for name in GPU_SERVICES:
        gpu, cpu = SERVICES[name], SERVICES[f"{name}-cpu"]
        assert gpu["profiles"] == ["gpu"]
        assert cpu["profiles"] == ["cpu"]
        devices = gpu["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia"
        assert "gpu" in devices[0]["capabilities"]
        assert "deploy" not in cpu
        assert cpu["build"]["dockerfile"] == gpu["build"]["dockerfile"]
        assert not cpu["build"]["args"]["BASE_IMAGE"].startswith("nvidia/")
        assert name in cpu["networks"]["default"]["aliases"]  # reachable by the same name


def test_named_volumes_are_declared_and_data_and_models_are_volumes():
    declared = set(COMPOSE.get("volumes", {}))
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not re.match(r"^[./]", source):
                assert source in declared, source
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["trainer"]["volumes"]}
    assert mounts["/data"] == "finerag-data"
    assert mounts["/data/models"] == "finerag-models"
    assert any(v.startswith("qdrant-data:") for v in SERVICES["qdrant"]["volumes"])


def test_redis_keeps_an_append_only_file_synced_every_second():
    conf = (ROOT / "infra" / "redis" / "redis.conf").read_text().split("\n")
    assert "appendonly yes" in conf
    assert "appendfsync everysec" in conf
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]


@pytest.mark.parametrize("name", sorted(dockerfiles()))
def test_dockerfiles_are_multi_stage_pinned_and_run_as_a_user(name: str):
    text = dockerfiles()[name].read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 2, "multi-stage: build, then a runtime without build tools"
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    for image in stages:
        image = defaults.get(image.strip("${}"), image)
        if ":" in image:  # a stage name (FROM build) has no tag
            tag = image.rsplit(":", 1)[1]
            assert tag != "latest", image
            assert re.search(r"\d+\.\d+", tag), f"{image}: pin a version"
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user, "no USER: the image would run as root"
    assert user[-1] not in ("root", "0")
    if name.removesuffix("-cpu") in GPU_SERVICES:
        assert defaults["BASE_IMAGE"].startswith("nvidia/cuda:"), "a CUDA base"


def test_dockerignore_keeps_secrets_and_environments_out_of_images():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", ".finerag"} <= set(ignored)


def test_the_local_procfile_runs_the_compose_services_through_finerag_serve():
    procfile = (ROOT / "infra" / "local" / "Procfile").read_text()
    entries = dict(re.findall(r"^([A-Za-z0-9_-]+):\s*(.+)$", procfile, re.M))
    assert set(entries) <= set(SERVICES)
    assert set(entries) >= REQUIRED - {"redis", "qdrant", "flower"}  # found / embedded / absent
    for name, command in entries.items():
        serve = re.search(r"finerag serve (\S+)", command)
        if serve:
            assert serve.group(1) == name, (name, command)
            assert name in SERVE_TARGETS


def test_the_local_env_file_holds_only_settings_ports_and_library_switches():
    lines = (ROOT / "infra" / "local" / "local.env").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    for name in names:
        if name.startswith("FINERAG_"):
            assert name in SETTINGS_VARIABLES, name
        else:
            assert re.fullmatch(r"LOCAL_[A-Z]+_PORT", name) or name in {
                "HF_HUB_OFFLINE",  # huggingface_hub: never reach the Hub
                "HF_HUB_DISABLE_TELEMETRY",
                "TOKENIZERS_PARALLELISM",  # tokenizers: no fork warnings
            }, name


def test_every_finerag_service_gets_the_service_token_and_compose_refuses_to_start_without_it():
    for name, service in SERVICES.items():
        environment = service.get("environment") or {}
        if "FINERAG_RETRIEVAL_URL" not in environment:
            continue  # not a FineRAG service (redis, qdrant, tensorboard, ...)
        token = environment.get("FINERAG_SERVICE_TOKEN", "")
        assert token.startswith("${FINERAG_SERVICE_TOKEN:?"), name
