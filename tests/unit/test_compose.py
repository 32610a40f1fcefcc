"""The compose file is validated by parsing (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_build_contexts_and_dockerfiles_exist():
    for name, service in COMPOSE["services"].items():
        build = service.get("build")
        if build:
            context = ROOT / build["context"]
            assert context.is_dir(), name
            assert (context / build["dockerfile"]).is_file(), name


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies():
    for name, service in COMPOSE["services"].items():
        assert "healthcheck" in service, name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in COMPOSE["services"]
            assert condition["condition"] == "service_healthy", (name, dependency)


def test_published_ports_are_unique():
    ports = [p.split(":")[0] for s in COMPOSE["services"].values() for p in s.get("ports", [])]
    assert len(ports) == len(set(ports))


def test_environment_variables_are_known_settings():
    known = {f"FINERAG_{name.upper()}" for name in Settings.model_fields}
    for name, service in COMPOSE["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("FINERAG_"):
                assert variable in known, (name, variable)


def test_named_volumes_are_declared():
    declared = set(COMPOSE.get("volumes", {}))
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not re.match(r"^[./]", source):
                assert source in declared
