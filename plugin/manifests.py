"""``salescoach manifests``: render the CRM and deployment manifests for one public base URL.

The committed sources (``crm_widgets/salesforce``, ``manifests/salesforce``,
``crm_widgets/hubspot``, ``manifests/container``, ``manifests/k8s``) are deployable examples
that name :data:`EXAMPLE_BASE_URL`. Rendering copies them into one output folder and replaces
that URL (and its bare host, for hostnames and e-mail addresses) with the configured
``SALESCOACH_PUBLIC_BASE_URL``, so every URL the CRMs and the cluster see is the real one.

Output layout::

    <out>/salesforce/   sfdx project: force-app (component, Apex) + salescoach-config (org metadata)
    <out>/hubspot/      HubSpot developer project (platform 2025.2)
    <out>/container/    Dockerfile for the web and worker image
    <out>/k8s/          Kubernetes manifests (kubectl apply -k <out>/k8s)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click

EXAMPLE_BASE_URL = "https://salescoach.example.com"
EXAMPLE_HOST = "salescoach.example.com"

# Files and folders that are development tooling, not manifests (tests, npm harnesses).
SKIP_NAMES = frozenset({
    "node_modules", "__tests__", "coverage", ".sfdx", ".sf", "jest-mocks", "jest.config.js",
    "vitest.config.js", "package-lock.json", ".DS_Store",
})
TEXT_SUFFIXES = frozenset({
    ".xml", ".json", ".js", ".jsx", ".ts", ".tsx", ".html", ".css", ".cls", ".yaml", ".yml",
    ".md", ".txt", ".dockerignore", ".forceignore",
})
TEXT_NAMES = frozenset({"Dockerfile", ".forceignore"})


class ManifestError(click.ClickException):
    """A bad base URL or a missing source folder; the message says which and why."""


@dataclass(frozen=True)
class Source:
    """One folder of templates and where it lands in the output."""

    path: str  # relative to the source root
    dest: str  # relative to the output folder
    top_level_skip: frozenset[str] = frozenset()  # names skipped only at the folder's top


SOURCES: tuple[Source, ...] = (
    Source("crm_widgets/salesforce", "salesforce",
           frozenset({"package.json", "sfdx-project.json", "README.md"})),
    Source("manifests/salesforce", "salesforce/salescoach-config"),
    Source("crm_widgets/hubspot", "hubspot", frozenset({"package.json", "README.md"})),
    Source("manifests/container", "container"),
    Source("manifests/k8s", "k8s"),
)


def default_source_root() -> Path:
    """The repository checkout this module runs from (the templates are not in the wheel)."""
    return Path(__file__).resolve().parent.parent


def normalise_base_url(base_url: str) -> str:
    """The base URL without a trailing slash; raises ManifestError if it cannot be a base URL."""
    value = (base_url or "").strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ManifestError(
            f"--base-url must look like https://coach.example.org, got {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ManifestError(
            f"--base-url must not carry credentials, a query or a fragment: {base_url!r}")
    return value


def rewrite(text: str, base_url: str) -> str:
    """The template text with the example base URL (then its bare host) replaced."""
    host = urlsplit(base_url).hostname or ""
    return text.replace(EXAMPLE_BASE_URL, base_url).replace(EXAMPLE_HOST, host)


def _is_text(path: Path) -> bool:
    return path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES


def walk_templates(folder: Path, top_level_skip: frozenset[str]) -> Iterable[Path]:
    """The files of one template folder that are manifests (not tests or npm harnesses)."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in SKIP_NAMES for part in rel.parts):
            continue
        if len(rel.parts) == 1 and rel.name in top_level_skip:
            continue
        if path.is_file():
            yield path


def _sfdx_project(source_root: Path) -> str:
    """sfdx-project.json of the rendered Salesforce project: the component and the org config."""
    committed = json.loads((source_root / "crm_widgets/salesforce/sfdx-project.json").read_text())
    project = {
        "packageDirectories": [
            {"path": "force-app", "default": True},
            {"path": "salescoach-config", "default": False},
        ],
        "name": committed.get("name", "salescoach-salesforce"),
        "namespace": committed.get("namespace", ""),
        "sourceApiVersion": committed["sourceApiVersion"],
    }
    return json.dumps(project, indent=2) + "\n"


def render_manifests(base_url: str, out: Path, source_root: Path | None = None) -> list[Path]:
    """Render every manifest for ``base_url`` into ``out``; returns the files written."""
    base = normalise_base_url(base_url)
    root = source_root or default_source_root()
    missing = [s.path for s in SOURCES if not (root / s.path).is_dir()]
    if missing:
        raise ManifestError(
            f"template folders not found under {root}: {', '.join(missing)} "
            "(run from a Sales Coach checkout or pass --source)"
        )
    written: list[Path] = []
    for source in SOURCES:
        folder = root / source.path
        for path in walk_templates(folder, source.top_level_skip):
            target = out / source.dest / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            if _is_text(path):
                target.write_text(rewrite(path.read_text(encoding="utf-8"), base), encoding="utf-8")
            else:
                shutil.copyfile(path, target)
            written.append(target)
    project = out / "salesforce" / "sfdx-project.json"
    project.write_text(_sfdx_project(root), encoding="utf-8")
    written.append(project)
    return sorted(written)


@click.command("manifests")
@click.option("--base-url", default=None, metavar="URL",
              help="public base URL the CRMs reach Sales Coach at, e.g. https://coach.example.org "
                   "[default: SALESCOACH_PUBLIC_BASE_URL]")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build/manifests"), show_default=True, help="folder to write into")
@click.option("--force", is_flag=True, help="write into --out even if it already holds files")
@click.option("--source", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="Sales Coach checkout holding the templates [default: this one]")
def manifests_cmd(base_url: str | None, out: Path, force: bool, source: Path | None) -> None:
    """Render the Salesforce, HubSpot, container and Kubernetes manifests for one base URL.

    Every URL in the output (Salesforce connected app, trusted URL, named credential; HubSpot
    permitted URLs and card; Kubernetes ConfigMap and Ingress) names --base-url. Then:

    \b
      sf project deploy start --source-dir OUT/salesforce/force-app \\
                              --source-dir OUT/salesforce/salescoach-config   (in OUT/salesforce)
      hs project upload                                                      (in OUT/hubspot)
      kubectl apply -k OUT/k8s

    See docs/install.md for the whole installation.
    """
    from plugin.cli import settings_or_exit

    chosen = settings_or_exit().public_base_url if base_url is None else base_url
    if out.exists() and any(out.iterdir()) and not force:
        raise ManifestError(f"{out} is not empty; pass --force to write into it anyway")
    files = render_manifests(chosen, out, source)
    base = normalise_base_url(chosen)
    if not base.startswith("https://"):
        click.secho(f"warning: {base} is not https; Salesforce trusted URLs and HubSpot permitted "
                    "URLs need https for a real org or portal.", fg="yellow", err=True)
    counts: dict[str, int] = {}
    for path in files:
        part = path.relative_to(out).parts[0]
        counts[part] = counts.get(part, 0) + 1
    click.echo(f"rendered {len(files)} files for {base} into {out}:")
    for part, n in sorted(counts.items()):
        click.echo(f"  {part + '/':<12} {n} files")
