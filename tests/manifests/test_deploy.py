"""The deploy holds live calls and recovers, checked offline: compose services with a health
check each (a real one for workers and beat), pinned images, commands the CLI knows; on
Kubernetes a drain that fits the grace period, disruption budgets, no replicas under an HPA,
migrations in a Job (under the lock of plugin/migrate.py); the lockfile and SDK floors agree
with pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from plugin.cli import GRACEFUL_S, main

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "manifests" / "k8s"
APP_SERVICES = {"web", "worker", "beat", "migrate"}
PINNED_TAG = re.compile(r"^[a-z0-9./-]+:\d+\.\d+(\.\d+)?[-\w.]*(@sha256:[0-9a-f]{64})?$|"
                        r"^[a-z0-9./-]+@sha256:[0-9a-f]{64}$")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifests" / "compose.yaml").read_text())


def k8s_docs() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "metadata" in doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def cli_accepts(argv: list[str]) -> None:
    """``salescoach ARGV`` names a real command whose options parse (nothing is run)."""
    ctx = click.Context(main)
    cmd = main.get_command(ctx, argv[0])
    assert cmd is not None, f"`salescoach {argv[0]}` does not exist"
    rest = argv[1:]
    while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(ctx, rest[0])
        assert sub is not None, f"`salescoach {' '.join(argv)}`: no subcommand {rest[0]}"
        cmd, rest = sub, rest[1:]
    cmd.make_context(argv[0], list(rest), resilient_parsing=False)


# -- compose ---------------------------------------------------------------------------------

def test_compose_has_every_service_with_a_health_check_that_fits_it() -> None:
    services = compose()["services"]
    assert {"web", "worker", "beat", "redis", "postgres"} <= set(services)
    checks = {}
    for name, svc in services.items():
        if name == "migrate":  # one-shot: the others wait for it to complete
            assert svc["restart"] == "no" and svc["healthcheck"] == {"disable": True}
            continue
        test = svc["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        checks[name] = test[1:]
    assert checks["web"] == ["salescoach", "health", "web"]
    # workers and beat get their own check, never the web port
    assert checks["worker"][:3] == ["salescoach", "health", "worker"]
    assert checks["beat"] == ["salescoach", "health", "beat"]
    assert checks["redis"] == ["redis-cli", "ping"]
    assert checks["postgres"][0] == "pg_isready"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"


def test_compose_images_are_pinned_and_commands_exist_in_the_cli() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        assert PINNED_TAG.match(svc["image"]), f"{name}: {svc['image']} is not pinned"
        assert not svc["image"].endswith(":latest")
        if name in APP_SERVICES:
            cli_accepts(list(svc["command"]))
            test = svc.get("healthcheck", {}).get("test")
            if test and test[1] == "salescoach":
                cli_accepts(test[2:])


# -- Kubernetes ------------------------------------------------------------------------------

def test_web_pods_drain_live_calls_within_their_grace_period() -> None:
    k = k8s_docs()
    spec = k[("Deployment", "salescoach-web")]["spec"]["template"]["spec"]
    web = spec["containers"][0]
    prestop = web["lifecycle"]["preStop"]["exec"]["command"]
    assert prestop == ["salescoach", "drain"]
    cli_accepts(prestop[1:])
    drain_s = int(k[("ConfigMap", "salescoach")]["data"]["SALESCOACH_DRAIN_TIMEOUT_S"])
    # the grace period covers the drain (preStop) and then gunicorn's graceful timeout
    assert spec["terminationGracePeriodSeconds"] >= drain_s + GRACEFUL_S
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"  # 503 while draining


def test_disruption_budgets_cover_web_and_workers() -> None:
    k = k8s_docs()
    for name in ("salescoach-web", "salescoach-worker"):
        pdb = k[("PodDisruptionBudget", name)]["spec"]
        deployment = k[("Deployment", name)]["spec"]
        assert pdb["selector"]["matchLabels"] == deployment["selector"]["matchLabels"]
        assert pdb.get("minAvailable", 0) >= 1 or pdb.get("maxUnavailable") == 1


def test_nothing_an_autoscaler_scales_has_fixed_replicas() -> None:
    k = k8s_docs()
    hpas = [doc for (kind, _), doc in k.items() if kind == "HorizontalPodAutoscaler"]
    assert hpas
    for hpa in hpas:
        target = hpa["spec"]["scaleTargetRef"]
        deployment = k[(target["kind"], target["name"])]
        assert "replicas" not in deployment["spec"], target["name"]


def test_migrations_run_once_in_a_job_that_takes_the_lock() -> None:
    import inspect

    from plugin import migrate

    k = k8s_docs()
    job = k[("Job", "salescoach-migrate")]["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["db", "upgrade"]
    cli_accepts(job["containers"][0]["args"])
    assert job["restartPolicy"] in ("OnFailure", "Never")
    for (kind, _name), doc in k.items():  # no pod migrates beside the Job
        if kind == "Deployment":
            for c in doc["spec"]["template"]["spec"].get("initContainers", []):
                assert c.get("args") != ["db", "upgrade"]
    # `db upgrade` holds the migration lock (its behaviour: tests/core/test_migrate_lock.py)
    assert "migration_lock(url)" in inspect.getsource(migrate.upgrade)


def test_every_image_is_pinned() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    tags = {i["name"]: i["newTag"] for i in kustomization["images"]}
    assert re.fullmatch(r"\d+\.\d+\.\d+", tags["salescoach"])
    for (_kind, name), doc in k8s_docs().items():
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            assert c["image"] in tags or PINNED_TAG.match(c["image"]), (name, c["image"])
    dockerfile = (ROOT / "manifests/container/Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.M)
    assert base and PINNED_TAG.match(base.group(1)), "the base image is not pinned"
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


# -- lockfile and floors ---------------------------------------------------------------------

def pyproject_requirements() -> list[Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(r) for r in data["project"]["dependencies"]]


def locked() -> dict[str, Version]:
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", (ROOT / "requirements.lock").read_text(),
                      re.M)
    return {canonicalize_name(name): Version(v) for name, v in pins}


def test_the_lockfile_pins_every_dependency_within_pyproject() -> None:
    pins = locked()
    text = (ROOT / "requirements.lock").read_text()
    assert "--hash=sha256:" in text and "make lock" in text
    for req in pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock (run make lock)"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"requirements.lock has {req.name}=={pins[name]}, outside {req.specifier}"
    dockerfile = (ROOT / "manifests/container/Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert re.search(r"pip install --no-deps \.", dockerfile)


def test_sdk_floors_are_what_the_code_needs_and_what_is_installed() -> None:
    reqs = {canonicalize_name(r.name): r for r in pyproject_requirements()}
    # the streaming v3 client the code imports (plugin/speech/assemblyai.py) is 1.x only
    from assemblyai.streaming import v3  # noqa: F401

    assert not reqs["assemblyai"].specifier.contains("0.99")
    assert reqs["assemblyai"].specifier.contains("1.0")
    for req in reqs.values():
        floor = [s for s in req.specifier if s.operator in (">=", "==", "~=")]
        assert floor, f"{req.name} has no floor"
        installed = Version(version(req.name))
        assert req.specifier.contains(installed, prereleases=True), \
            f"{req.name} {installed} is installed, outside {req.specifier}"


@pytest.mark.parametrize("argv", [["health", "web"], ["health", "worker", "-n", "w@h"],
                                  ["health", "beat"], ["drain", "--timeout", "5"], ["beat"],
                                  ["worker", "--no-beat"], ["serve"], ["db", "upgrade"]])
def test_operations_commands_exist(argv: list[str]) -> None:
    cli_accepts(argv)
