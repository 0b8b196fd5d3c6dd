"""What deploy/ ships, checked offline: the Kubernetes manifests against the Kubernetes API's
own schemas (kubernetes-validate bundles them; strict, so a misspelt field fails) and against
what the image and the field report need."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_docker import FINAL, env_of, exec_form, healthcheck_cmd

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "deploy" / "kubernetes"

# Kubernetes versions the manifests must be valid for: an old one still in wide use and the
# newest whose schemas kubernetes-validate ships.
K8S_VERSIONS = ("1.25.0", "latest")

# The field report's `docker run` variables (calico/routereflector's), plus CLUSTER_ID.
SEED_ENV = {"IP", "ETCD_ENDPOINTS", "ETCD_CA_CERT_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE"}


# --- Kubernetes ---------------------------------------------------------------------------------


def documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    import yaml

    files = sorted(MANIFESTS.glob("*.yaml"))
    assert files, f"no manifests in {MANIFESTS}"
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                assert isinstance(doc, dict), path
                yield path, doc


def _version(wanted: str) -> str:
    import kubernetes_validate.utils as kv_utils

    return str(kv_utils.latest_version()) if wanted == "latest" else wanted


@pytest.mark.parametrize("k8s", K8S_VERSIONS)
def test_manifests_match_the_kubernetes_schemas(k8s: str) -> None:
    import kubernetes_validate

    version = _version(k8s)
    checked = 0
    for path, doc in documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{path.name}: {doc.get('kind')} {err.path}: {err.message}")
        checked += 1
    assert checked


def test_kubernetes_validate_catches_a_misspelt_field() -> None:
    """The check above would pass anything if strict mode did not look at field names."""
    import kubernetes_validate

    (doc,) = (d for _, d in documents() if d["kind"] == "DaemonSet")
    bad = json.loads(json.dumps(doc))
    bad["spec"]["template"]["spec"]["hostNetwrok"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, _version("latest"), strict=True)


def _daemonset() -> dict[str, Any]:
    (ds,) = (d for _, d in documents() if d["kind"] == "DaemonSet")
    return ds


def test_the_daemonset_runs_the_image_as_the_field_report_did() -> None:
    ds = _daemonset()
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert "pyrr/route-reflector" in pod["nodeSelector"]
    assert (
        ds["spec"]["selector"]["matchLabels"].items()
        <= ds["spec"]["template"]["metadata"]["labels"].items()
    )
    (ctr,) = pod["containers"]

    # The image's user, and the capability scheme the image relies on (docs/operations.md).
    uid, gid = (int(x) for x in FINAL.last("USER").split(":"))
    sec, csec = pod["securityContext"], ctr["securityContext"]
    assert (sec["runAsUser"], sec["runAsGroup"], sec["fsGroup"]) == (uid, gid, gid)
    assert sec["runAsNonRoot"] is True
    assert csec["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    # no_new_privs would make the kernel ignore python's file capability: no port 179.
    assert csec.get("allowPrivilegeEscalation", True) is True

    # The seed's variables; IP is the node's own address.
    env = {e["name"]: e for e in ctr["env"]}
    assert set(env) >= SEED_ENV
    assert env["IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert env["ETCD_ENDPOINTS"]["valueFrom"]["configMapKeyRef"]["key"] == "etcd_endpoints"

    # The etcd files are where the variables say, from the Secret, readable by the group.
    mounts = {m["name"]: m for m in ctr["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    certs = next(m for m in mounts.values() if m["mountPath"] == "/etc/calico/ssl")
    secret = volumes[certs["name"]]["secret"]
    files = {f"/etc/calico/ssl/{item['path']}" for item in secret["items"]}
    for var in ("ETCD_CA_CERT_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE"):
        assert env[var]["value"] in files, var
    assert secret["defaultMode"] & 0o040 and not secret["defaultMode"] & 0o004

    # A read-only root: the control socket's directory (the image's PYRR_CONTROL_SOCKET) is a
    # volume of its own.
    assert csec["readOnlyRootFilesystem"] is True
    sock_dir = str(Path(env_of(FINAL)["PYRR_CONTROL_SOCKET"]).parent)
    assert any(m["mountPath"] == sock_dir for m in mounts.values())

    # The probes are the image's HEALTHCHECK: `pyrr status --check`.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert ctr[probe]["exec"]["command"] == healthcheck_cmd(FINAL), probe
    assert exec_form(FINAL.last("ENTRYPOINT")) == ["pyrr", "run"] and "command" not in ctr
    assert ctr["args"][:2] == ["--metrics", "$(IP):9179"]
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    assert ports == {"bgp": 179, "metrics": 9179}
