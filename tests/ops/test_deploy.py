"""What deploy/ ships, checked offline: the Kubernetes manifests against the Kubernetes API's
own schemas (kubernetes-validate bundles them; strict, so a misspelt field fails) and against
what the image and the field report need; the Grafana dashboard names only metrics that pyrr
exports, read from a live /metrics scrape."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyrr.bgp.constants import State
from pyrr.control.metrics import MetricsServer
from pyrr.transport.host import Host

from ..peer_sim import SimPeer, free_port, wait_for
from ..test_metrics import names, parse, scrape
from ..test_speaker import ASN, client, make_config
from .test_docker import FINAL, env_of, exec_form, healthcheck_cmd

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "deploy" / "kubernetes"
DASHBOARD = REPO / "deploy" / "grafana" / "pyrr.json"

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


# --- Grafana --------------------------------------------------------------------------------------

# PromQL words that are not metric names.
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression: label matchers, strings, ranges, grouping
    clauses and function names removed."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    found = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or m.group(0).lower() in _PROMQL_WORDS:
            continue
        if m.start() > 0 and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "$"):
            continue  # 5m, 1e3, a $variable
        found.add(m.group(0))
    return found


def test_metric_names_parser() -> None:
    assert metric_names(
        'sum by (peer, family) (rate(pyrr_peer_flaps_total{instance=~"$instance", a="b}"}'
        "[$__rate_interval])) > 0 and on (instance) pyrr_up"
    ) == {"pyrr_peer_flaps_total", "pyrr_up"}
    assert metric_names("sum(pyrr_peers) - sum(pyrr_peers_established) offset 5m") == {
        "pyrr_peers",
        "pyrr_peers_established",
    }


def exported_metrics() -> set[str]:
    """Every sample name a speaker with established, converged peers serves on /metrics."""

    async def go() -> set[str]:
        port = free_port()
        addrs = ["127.0.4.11", "127.0.4.12"]
        host = Host(make_config(port, [client(a) for a in addrs]), asyncio.get_running_loop())
        await host.start()
        metrics = MetricsServer(host, f"127.0.0.1:{free_port()}")
        await metrics.start()
        sims = [SimPeer(a, ASN, ("127.0.0.1", port)) for a in addrs]
        try:
            for sim in sims:
                await sim.connect()
            await wait_for(lambda: all(s.state == State.ESTABLISHED for s in sims), what="up")
            sims[0].announce(["10.10.1.0/26", "2001:db8:1::/64"])
            for sim in sims:
                sim.send_eor()
            await wait_for(lambda: "10.10.1.0/26" in sims[1].prefixes(), what="reflection")
            _code, _ctype, body = await asyncio.to_thread(
                scrape, f"http://{metrics.address}/metrics"
            )
            return names(parse(body))
        finally:
            for sim in sims:
                sim.close()
            await metrics.stop()
            await host.stop()

    return asyncio.run(asyncio.wait_for(go(), 30))


def _panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_the_grafana_dashboard_names_only_exported_metrics() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int)
    exported = exported_metrics()
    assert {"pyrr_peer_up", "pyrr_peer_flaps_total", "process_resident_memory_bytes"} <= exported

    used: dict[str, set[str]] = {}
    ids = []
    cells: set[tuple[int, int]] = set()
    for panel in _panels(dash):
        ids.append(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            found = metric_names(target["expr"])
            assert found, (panel["title"], target["expr"])
            used.setdefault(panel["title"], set()).update(found)
    assert len(ids) == len(set(ids)), "panel ids must be unique"

    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?,\s*(\w+)\)", var["query"]["query"])
            assert m, var["query"]
            used.setdefault(f"${var['name']}", set()).add(m.group(1))

    unknown = {title: sorted(n - exported) for title, n in used.items() if n - exported}
    assert not unknown, f"metrics pyrr does not export: {unknown}"
    # Every pyrr_* metric family is on the dashboard somewhere.
    everything = set().union(*used.values())
    families = {n for n in exported if n.startswith("pyrr_")}
    assert not families - everything, f"not on the dashboard: {sorted(families - everything)}"
