"""``salescoach manifests``: every manifest parses, and after rendering for one base URL every
URL in the output names that URL's host and nothing else."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner

from plugin.cli import main
from plugin.manifests import (
    EXAMPLE_BASE_URL,
    EXAMPLE_HOST,
    SOURCES,
    render_manifests,
    rewrite,
    walk_templates,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://coach.example.test"
HOST = "coach.example.test"
MD_NS = {"sf": "http://soap.sforce.com/2006/04/metadata"}

URL_RE = re.compile(r"\b(?:https?|wss?)://[^\s\"'<>`)\]},]+")
XMLNS_RE = re.compile(r"""xmlns(?::\w+)?=["'][^"']*["']""")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifests rendered by the real CLI for BASE."""
    out = tmp_path_factory.mktemp("rendered") / "manifests"
    result = CliRunner().invoke(main, ["manifests", "--base-url", BASE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"for {BASE}" in result.output
    return out


def files_under(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "node_modules" not in path.parts:
            yield path


def template_files() -> Iterator[Path]:
    for source in SOURCES:
        yield from walk_templates(ROOT / source.path, source.top_level_skip)


def parse(path: Path) -> Any:
    """Parse a manifest by its kind; raises if it is malformed."""
    name = path.name
    if name.endswith(".xml"):
        return ET.parse(path).getroot()
    if name.endswith(".json"):
        return json.loads(path.read_text())
    if name.endswith((".yaml", ".yml")):
        return list(yaml.safe_load_all(path.read_text()))
    return None


def urls_in(text: str) -> list[str]:
    return URL_RE.findall(XMLNS_RE.sub("", text))


def xml_text(root: ET.Element, path: str) -> list[str]:
    return [el.text or "" for el in root.findall(path, MD_NS)]


# ----- templates --------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(template_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_manifest_parses(path: Path) -> None:
    parse(path)


def test_committed_templates_name_only_the_documented_example_base_url() -> None:
    # given the committed sources, when their URLs are collected,
    # then they all name the example host
    hosts = set()
    for path in template_files():
        if path.suffix in {".xml", ".json", ".yaml", ".yml", ".js", ".jsx", ".cls"} \
                or path.name == "Dockerfile":
            hosts |= {urlsplit(u).hostname for u in urls_in(path.read_text())}
    assert hosts - LOOPBACK == {EXAMPLE_HOST}


# ----- rendering ---------------------------------------------------------------------------


def test_rendered_output_has_the_deployable_projects(rendered: Path) -> None:
    expected = [
        "salesforce/sfdx-project.json",
        "salesforce/force-app/main/default/lwc/salesCoach/salesCoach.js-meta.xml",
        "salesforce/force-app/main/default/classes/SalesCoachController.cls",
        "salesforce/salescoach-config/main/default/connectedApps/SalesCoach.connectedApp-meta.xml",
        "hubspot/hsproject.json",
        "hubspot/src/app/app-hsmeta.json",
        "hubspot/src/app/cards/SalesCoachCard.jsx",
        "container/Dockerfile",
        "k8s/kustomization.yaml",
    ]
    for rel in expected:
        assert (rendered / rel).is_file(), rel
    # development harnesses stay behind
    assert not list(rendered.rglob("__tests__"))
    assert not list(rendered.rglob("package-lock.json"))
    assert not list(rendered.rglob("node_modules"))


def test_every_rendered_manifest_parses(rendered: Path) -> None:
    parsed = [p for p in files_under(rendered) if parse(p) is not None]
    assert len(parsed) >= 25


def test_every_rendered_url_names_the_configured_base_url(rendered: Path) -> None:
    # given manifests rendered for BASE, when every URL is collected, then each names HOST
    seen: dict[str, set[str]] = {}
    for path in files_under(rendered):
        text = path.read_text()
        assert EXAMPLE_HOST not in text, f"{path} still names the example host"
        for url in urls_in(text):
            host = urlsplit(url).hostname or ""
            if host in LOOPBACK:  # the container's own health check
                assert path.name == "Dockerfile", f"{path}: {url}"
                continue
            seen.setdefault(host, set()).add(str(path.relative_to(rendered)))
    assert set(seen) == {HOST}, seen
    # and the CRM manifests and the cluster config all carry it
    for part in ("salesforce", "hubspot", "k8s"):
        assert any(rel.startswith(part + "/") for rel in seen[HOST]), part


def test_sfdx_project_lists_the_component_and_the_org_config(rendered: Path) -> None:
    project = json.loads((rendered / "salesforce/sfdx-project.json").read_text())
    paths = [d["path"] for d in project["packageDirectories"]]
    assert paths == ["force-app", "salescoach-config"]
    assert [d for d in project["packageDirectories"] if d.get("default")] == [
        {"path": "force-app", "default": True}]
    assert float(project["sourceApiVersion"]) >= 59.0  # canAccessMicrophone needs API 59+
    for path in paths:
        assert (rendered / "salesforce" / path).is_dir()


def test_connected_app_points_oauth_and_canvas_at_the_base_url(rendered: Path) -> None:
    app = parse(rendered / "salesforce/salescoach-config/main/default/connectedApps/"
                "SalesCoach.connectedApp-meta.xml")
    assert xml_text(app, "sf:oauthConfig/sf:callbackUrl") == [f"{BASE}/oauth/salesforce/callback"]
    assert sorted(xml_text(app, "sf:oauthConfig/sf:scopes")) == ["Api", "RefreshToken"]
    assert xml_text(app, "sf:canvasConfig/sf:canvasUrl") == [f"{BASE}/sf/canvas"]
    assert xml_text(app, "sf:canvasConfig/sf:accessMethod") == ["Post"]  # signed request
    assert xml_text(app, "sf:canvasConfig/sf:locations")
    assert xml_text(app, "sf:contactEmail") == [f"admin@{HOST}"]


def test_trusted_url_allows_fetch_frames_and_the_microphone(rendered: Path) -> None:
    site = parse(rendered / "salesforce/salescoach-config/main/default/cspTrustedSites/"
                 "SalesCoach.cspTrustedSite-meta.xml")
    assert xml_text(site, "sf:endpointUrl") == [BASE]
    for flag in ("isActive", "isApplicableToConnectSrc", "isApplicableToFrameSrc",
                 "canAccessMicrophone"):
        assert xml_text(site, f"sf:{flag}") == ["true"], flag
    assert xml_text(site, "sf:context") == ["All"]


def test_named_credential_is_the_one_apex_calls(rendered: Path) -> None:
    config = rendered / "salesforce/salescoach-config/main/default"
    nc = parse(config / "namedCredentials/SalesCoach.namedCredential-meta.xml")
    params = {xml_text(p, "sf:parameterType")[0]: p for p in nc.findall(
        "sf:namedCredentialParameters", MD_NS)}
    assert xml_text(params["Url"], "sf:parameterValue") == [BASE]
    external = xml_text(params["Authentication"], "sf:externalCredential")[0]
    assert (config / f"externalCredentials/{external}.externalCredential-meta.xml").is_file()

    apex = (rendered / "salesforce/force-app/main/default/classes/SalesCoachController.cls"
            ).read_text()
    assert "'callout:SalesCoach/sf/widget/context'" in apex
    assert "X-SalesCoach-Signature" in apex
    assert "Crypto.generateMac('HmacSHA256'" in apex


def test_permission_sets_grant_the_controller_and_an_existing_principal(rendered: Path) -> None:
    config = rendered / "salesforce/salescoach-config/main/default"
    ec = parse(config / "externalCredentials/SalesCoach.externalCredential-meta.xml")
    principals = {f"SalesCoach-{name}" for name in xml_text(
        ec, "sf:externalCredentialParameters/sf:parameterName")}
    for name in ("SalesCoach_User", "SalesCoach_Admin"):
        ps = parse(config / f"permissionsets/{name}.permissionset-meta.xml")
        assert xml_text(ps, "sf:classAccesses/sf:apexClass") == ["SalesCoachController"]
        granted = set(xml_text(ps, "sf:externalCredentialPrincipalAccesses/"
                                   "sf:externalCredentialPrincipal"))
        assert granted and granted <= principals
    admin = parse(config / "permissionsets/SalesCoach_Admin.permissionset-meta.xml")
    assert xml_text(admin, "sf:customMetadataTypeAccesses/sf:name") == ["SalesCoach_Setting__mdt"]
    assert (rendered / "salesforce/force-app/main/default/objects/SalesCoach_Setting__mdt").is_dir()


def test_lightning_component_is_placed_on_the_four_record_pages(rendered: Path) -> None:
    lwc = rendered / "salesforce/force-app/main/default/lwc/salesCoach"
    meta = parse(lwc / "salesCoach.js-meta.xml")
    assert xml_text(meta, "sf:isExposed") == ["true"]
    assert xml_text(meta, "sf:targets/sf:target") == ["lightning__RecordPage"]
    objects = xml_text(meta, "sf:targetConfigs/sf:targetConfig/sf:objects/sf:object")
    assert sorted(objects) == ["Account", "Contact", "Lead", "Opportunity"]
    js = (lwc / "salesCoach.js").read_text()
    assert "@salesforce/apex/SalesCoachController.getContext" in js
    assert "@api objectApiName" in js and "get recordId()" in js
    assert "from 'c/ldsUtils'" in js
    html = (lwc / "salesCoach.html").read_text()
    assert 'allow="microphone' in html  # the framed panel listens to the call


def test_hubspot_project_is_platform_2025_2_with_permitted_base_url(rendered: Path) -> None:
    project = json.loads((rendered / "hubspot/hsproject.json").read_text())
    assert project["srcDir"] == "src" and project["platformVersion"] == "2025.2"
    app = json.loads((rendered / "hubspot/src/app/app-hsmeta.json").read_text())
    assert app["type"] == "app"
    assert app["config"]["permittedUrls"]["fetch"] == [BASE]
    assert app["config"]["permittedUrls"]["iframe"] == [BASE]
    assert app["config"]["auth"]["redirectUrls"] == [f"{BASE}/oauth/hubspot/callback"]
    assert "crm.objects.contacts.read" in app["config"]["auth"]["requiredScopes"]


def test_hubspot_card_calls_only_the_card_context_endpoint(rendered: Path) -> None:
    cards = rendered / "hubspot/src/app/cards"
    meta = json.loads((cards / "sales-coach-card-hsmeta.json").read_text())
    assert meta["type"] == "card"
    assert meta["config"]["location"] in {"crm.record.tab", "crm.record.sidebar"}
    assert meta["config"]["objectTypes"] == ["contacts"]
    entry = rendered / "hubspot/src" / meta["config"]["entrypoint"].lstrip("/")
    assert entry.is_file()
    package = json.loads((cards / "package.json").read_text())
    assert "@hubspot/ui-extensions" in package["dependencies"]

    api = (cards / "salesCoachApi.js").read_text()
    assert f'export const BASE = "{BASE}";' in api
    assert "export const CONTEXT_URL = `${BASE}/hubspot/card/context`;" in api
    assert "hubspot.fetch(CONTEXT_URL" in api
    sources = api + entry.read_text()
    assert re.findall(r"\bfetch\(", sources) == ["fetch("]  # hubspot.fetch, nothing else
    assert "XMLHttpRequest" not in sources
    assert "actions.openIframeModal(" in entry.read_text()


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in parse(path) if d]


def _by_kind(rendered: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in (rendered / "k8s").glob("*.yaml"):
        for doc in _docs(path):
            if "metadata" in doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def test_kubernetes_web_worker_and_ingress_are_wired(rendered: Path) -> None:
    k = _by_kind(rendered)
    config = k[("ConfigMap", "salescoach")]["data"]
    assert config["SALESCOACH_PUBLIC_BASE_URL"] == BASE
    assert config["SALESCOACH_ENV"] == "production"

    web = k[("Deployment", "salescoach-web")]["spec"]["template"]["spec"]
    container = web["containers"][0]
    assert container["args"][0] == "serve"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "initContainers" not in web  # migrations run in the Job (test_deploy.py)
    secret_keys = {e["name"] for e in container["env"] if "secretKeyRef" in e["valueFrom"]}
    assert {"SALESCOACH_DATABASE_URL", "SALESCOACH_BROKER_URL", "SALESCOACH_PUBSUB_URL",
            "SALESCOACH_SECRET_KEY", "SALESCOACH_ENCRYPTION_KEY"} <= secret_keys

    worker = k[("Deployment", "salescoach-worker")]["spec"]["template"]["spec"]
    assert worker["containers"][0]["args"][0] == "worker"
    hpa = k[("HorizontalPodAutoscaler", "salescoach-worker")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "salescoach-worker"
    assert hpa["minReplicas"] >= 1 and hpa["maxReplicas"] > hpa["minReplicas"]

    for spec in (web, worker, k[("Deployment", "salescoach-beat")]["spec"]["template"]["spec"]):
        assert spec["securityContext"]["runAsNonRoot"] is True
        for c in spec["containers"] + spec.get("initContainers", []):
            assert {"configMapRef": {"name": "salescoach"}} in c["envFrom"]

    service = k[("Service", "salescoach-web")]["spec"]
    assert service["selector"] == k[("Deployment", "salescoach-web")]["spec"]["selector"][
        "matchLabels"]
    ingress = k[("Ingress", "salescoach")]
    assert [r["host"] for r in ingress["spec"]["rules"]] == [HOST]
    assert ingress["spec"]["tls"][0]["hosts"] == [HOST]
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600


def test_kustomization_lists_every_manifest(rendered: Path) -> None:
    kustomization = _docs(rendered / "k8s/kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in (rendered / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_kubernetes_manifests_match_the_api_schemas_strictly(rendered: Path) -> None:
    # given the rendered cluster config, then each resource is valid for Kubernetes 1.29+
    # (strict: an unknown or misspelt field fails)
    import kubernetes_validate

    docs = [doc for path in sorted((rendered / "k8s").glob("*.yaml"))
            if path.name != "kustomization.yaml" for doc in _docs(path)]
    assert len(docs) == 11
    for doc in docs:
        resolved = yaml.safe_load(yaml.safe_dump(doc))  # anchors expanded, as kustomize does
        kubernetes_validate.validate(resolved, "1.29.0", strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_rendered_cluster_config(rendered: Path) -> None:
    result = subprocess.run(["kubectl", "kustomize", str(rendered / "k8s")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert kinds.count("Deployment") == 3 and "Ingress" in kinds


def test_dockerfile_runs_web_and_worker_as_non_root(rendered: Path) -> None:
    text = (rendered / "container/Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r'^ENTRYPOINT \["salescoach"\]$', text, re.M)
    assert re.search(r'^CMD \["serve"\]$', text, re.M)
    assert "EXPOSE 8000" in text


def test_endpoints_named_by_the_manifests_exist_in_the_app(app: Any) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    for route in ("/sf/canvas", "/sf/widget/context", "/hubspot/card/context",
                  "/oauth/<kind>/callback", "/healthz", "/readyz"):
        assert route in rules, route


# ----- CLI behaviour ---------------------------------------------------------------------


def test_manifests_help_is_available_from_the_installed_command() -> None:
    result = subprocess.run([sys.executable, "-m", "plugin.cli", "manifests", "--help"],
                            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "--base-url" in result.stdout and "--out" in result.stdout
    listing = subprocess.run([sys.executable, "-m", "plugin.cli", "--help"],
                             capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert "manifests" in listing.stdout


@pytest.mark.parametrize("bad", ["coach.example.test", "ftp://coach.example.test",
                                 "https://user:pw@coach.example.test", "https://x.test/?a=1", ""])
def test_a_bad_base_url_is_refused_with_a_clear_message(bad: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["manifests", "--base-url", bad, "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "--base-url" in result.output
    assert not (tmp_path / "out").exists()


def test_a_non_empty_output_folder_needs_force(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    runner = CliRunner()
    refused = runner.invoke(main, ["manifests", "--base-url", BASE, "--out", str(tmp_path)])
    assert refused.exit_code != 0 and "--force" in refused.output
    forced = runner.invoke(main, ["manifests", "--base-url", BASE, "--out", str(tmp_path),
                                  "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert (tmp_path / "k8s/configmap.yaml").is_file()


def test_base_url_defaults_to_the_configured_public_base_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOACH_PUBLIC_BASE_URL", "https://configured.example.test/")
    monkeypatch.setenv("SALESCOACH_INSTANCE_PATH", str(tmp_path / "instance"))
    result = CliRunner().invoke(main, ["manifests", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    site = (tmp_path / "out/salesforce/salescoach-config/main/default/cspTrustedSites/"
            "SalesCoach.cspTrustedSite-meta.xml").read_text()
    assert "<endpointUrl>https://configured.example.test</endpointUrl>" in site


def test_plain_http_renders_with_a_warning(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["manifests", "--base-url", "http://coach.internal.test:8080",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "not https" in result.output
    ingress = (tmp_path / "out/k8s/ingress.yaml").read_text()
    assert "host: coach.internal.test\n" in ingress


def test_rewrite_replaces_the_url_before_the_bare_host() -> None:
    text = f"{EXAMPLE_BASE_URL}/sf/canvas admin@{EXAMPLE_HOST} host: {EXAMPLE_HOST}"
    assert rewrite(text, "https://coach.example.test/prefix") == (
        "https://coach.example.test/prefix/sf/canvas admin@coach.example.test "
        "host: coach.example.test")


def test_render_reports_missing_templates(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="template folders not found"):
        render_manifests(BASE, tmp_path / "out", source_root=tmp_path)
