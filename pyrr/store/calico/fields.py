"""Every field of the Calico resources pyrr reads: since which Calico version, and what pyrr does
with it. The one table behind docs/etcd.md's field table and behind `field_notes()`.

Calico adds fields with every release (BGPPeer `keepaliveTime` in 3.32, BGPFilter `operations`
in 3.32, ...). A field pyrr does not know is never a reason to reject a resource: it is
ignored, and CalicoSource logs one line per field name (not per resource or event). A field
pyrr knows but does not apply, when it is set, gets one line too, saying why (`IGNORED`);
fields that have no meaning for a route reflector (a Node's VXLAN tunnel address) are skipped
without a word (`NOT_APPLICABLE`).

Versions were read from projectcalico/calico's git history: the first v3.N.0 tag whose API
types or resource reference carry the field ("≤3.22": already there when the API moved into
that repository, at 3.22).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["FIELDS", "Field", "Use", "field_notes"]


class Use(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored, logged once when set"
    NOT_APPLICABLE = "not applicable to a reflector"


@dataclass(frozen=True, slots=True)
class Field:
    path: str  # "spec.bgp.asNumber"; "[]" marks the elements of a list
    since: str  # the Calico version that added it, "3.0" for the first v3 API
    use: Use
    note: str = ""


def _f(path: str, since: str, use: Use = Use.APPLIED, note: str = "") -> Field:
    return Field(path, since, use, note)


_NA = Use.NOT_APPLICABLE
_IGN = Use.IGNORED
_RULE = "spec.{export,import}V{4,6}[]"

# kind -> its fields (metadata.name and the type fields are checked by every reader).
FIELDS: Final[Mapping[str, tuple[Field, ...]]] = {
    "Node": (
        _f("metadata.labels", "3.0", note="what BGPPeer nodeSelector/peerSelector match"),
        _f("spec.bgp", "3.0"),
        _f("spec.bgp.ipv4Address", "3.0"),
        _f("spec.bgp.ipv6Address", "3.0"),
        _f("spec.bgp.asNumber", "3.0"),
        _f("spec.bgp.routeReflectorClusterID", "3.3"),
        _f("spec.bgp.ipv4IPIPTunnelAddr", "3.0", _NA, "felix's tunnel address"),
        _f("spec.orchRefs", "3.1", _NA),
        _f("spec.ipv4VXLANTunnelAddr", "3.8", _NA, "felix's tunnel address"),
        _f("spec.vxlanTunnelMACAddr", "3.8", _NA),
        _f("spec.ipv6VXLANTunnelAddr", "3.23", _NA),
        _f("spec.vxlanTunnelMACAddrV6", "3.23", _NA),
        _f("spec.wireguard", "3.15", _NA),
        _f("spec.addresses", "≤3.22", _NA),
        _f("spec.interfaces", "3.31", _NA),
        _f("status", "≤3.22", _NA),
    ),
    "BGPPeer": (
        _f("spec.node", "3.0"),
        _f("spec.peerIP", "3.0"),
        _f("spec.asNumber", "3.0"),
        _f("spec.nodeSelector", "3.3"),
        _f("spec.peerSelector", "3.3"),
        _f("spec.keepOriginalNextHop", "3.16", note="Keep towards eBGP peers only, as confd"),
        _f("spec.password", "3.17"),
        _f("spec.password.secretKeyRef", "3.17", note="read from PYRR_SECRETS_DIR/<name>/<key>"),
        _f("spec.password.secretKeyRef.name", "3.17"),
        _f("spec.password.secretKeyRef.key", "3.17"),
        _f("spec.password.secretKeyRef.optional", "3.17", _NA),
        _f("spec.sourceAddress", "3.18"),
        _f("spec.maxRestartTime", "3.20"),
        _f("spec.numAllowedLocalASNumbers", "3.23", note="peerIP sessions only, as confd"),
        _f("spec.ttlSecurity", "3.25"),
        _f("spec.reachableBy", "3.25", _IGN, "pyrr installs no routes; route the host"),
        _f("spec.filters", "3.26"),
        _f("spec.localWorkloadSelector", "3.30", _IGN, "peers with workloads: not a reflector's"),
        _f("spec.localASNumber", "3.31", note="peerIP sessions only, as confd"),
        _f("spec.nextHopMode", "3.31"),
        _f("spec.reversePeering", "3.31"),
        _f("spec.keepaliveTime", "3.32"),
    ),
    "BGPConfiguration": (
        _f("spec.asNumber", "3.0"),
        _f("spec.logSeverityScreen", "3.0"),
        _f("spec.nodeToNodeMeshEnabled", "3.0", note="on with pyrr as a Node: one warning"),
        _f("spec.serviceClusterIPs", "3.10", _NA, "the nodes advertise these"),
        _f("spec.serviceExternalIPs", "3.10", _NA),
        _f("spec.listenPort", "3.16"),
        _f("spec.communities", "3.16", _NA, "the nodes tag their own prefixes"),
        _f("spec.prefixAdvertisements", "3.16", _NA),
        _f("spec.serviceLoadBalancerIPs", "3.18", _NA),
        _f("spec.nodeMeshPassword", "3.23", _NA, "mesh sessions only"),
        _f("spec.nodeMeshMaxRestartTime", "3.23", _NA),
        _f("spec.bindMode", "3.23", _NA, "pyrr listens on IP/IP6 (or its Node's addresses)"),
        _f("spec.ignoredInterfaces", "3.25", _NA),
        _f("spec.localWorkloadPeeringIPV4", "3.30", _NA),
        _f("spec.localWorkloadPeeringIPV6", "3.30", _NA),
        _f("spec.serviceLoadBalancerAggregation", "3.31", _NA),
        _f("spec.programClusterRoutes", "3.31", _NA),
        _f("spec.ipv4NormalRoutePriority", "3.32", _NA),
        _f("spec.ipv6NormalRoutePriority", "3.32", _NA),
    ),
    "BGPFilter": (
        _f("spec.exportV4", "3.26"),
        _f("spec.importV4", "3.26"),
        _f("spec.exportV6", "3.26"),
        _f("spec.importV6", "3.26"),
        _f(f"{_RULE}.action", "3.26"),
        _f(f"{_RULE}.cidr", "3.26"),
        _f(f"{_RULE}.matchOperator", "3.26"),
        _f(f"{_RULE}.source", "3.27"),
        _f(f"{_RULE}.interface", "3.27", note="never matches a route learned over BGP"),
        _f(f"{_RULE}.prefixLength", "3.29"),
        _f(f"{_RULE}.prefixLength.min", "3.29"),
        _f(f"{_RULE}.prefixLength.max", "3.29"),
        _f(f"{_RULE}.peerType", "3.32"),
        _f(f"{_RULE}.communities", "3.32"),
        _f(f"{_RULE}.communities.values", "3.32"),
        _f(f"{_RULE}.asPathPrefix", "3.32"),
        _f(f"{_RULE}.priority", "3.32"),
        _f(f"{_RULE}.operations", "3.32"),
        _f(f"{_RULE}.operations[].addCommunity", "3.32"),
        _f(f"{_RULE}.operations[].addCommunity.value", "3.32"),
        _f(f"{_RULE}.operations[].prependASPath", "3.32"),
        _f(f"{_RULE}.operations[].prependASPath.prefix", "3.32"),
        _f(f"{_RULE}.operations[].setPriority", "3.32"),
        _f(f"{_RULE}.operations[].setPriority.value", "3.32"),
    ),
    "IPPool": (
        _f("spec.cidr", "3.0"),
        _f("spec.disableBGPExport", "3.22", note="its CIDR goes into no_export"),
        _f("spec.ipip", "3.0", _NA, "deprecated"),
        _f("spec.nat-outgoing", "3.0", _NA, "deprecated"),
        _f("spec.ipipMode", "3.0", _NA),
        _f("spec.natOutgoing", "3.0", _NA),
        _f("spec.disabled", "3.0", _NA),
        _f("spec.vxlanMode", "3.7", _NA),
        _f("spec.blockSize", "3.3", _NA),
        _f("spec.nodeSelector", "3.3", _NA),
        _f("spec.allowedUses", "≤3.22", _NA),
        _f("spec.namespaceSelector", "3.31", _NA),
        _f("spec.assignmentMode", "3.30", _NA),
        _f("status", "3.32", _NA),
    ),
}

# Where a kind's unknown fields are looked for: the objects whose keys are all listed above.
_CHECKED: Final[Mapping[str, tuple[str, ...]]] = {
    "Node": ("spec", "spec.bgp"),
    "BGPPeer": ("spec", "spec.password", "spec.password.secretKeyRef"),
    "BGPConfiguration": ("spec",),
    "BGPFilter": (
        "spec",
        _RULE,
        f"{_RULE}.prefixLength",
        f"{_RULE}.communities",
        f"{_RULE}.operations[]",
        f"{_RULE}.operations[].addCommunity",
        f"{_RULE}.operations[].prependASPath",
        f"{_RULE}.operations[].setPriority",
    ),
    "IPPool": ("spec",),
}
_RULE_LISTS: Final = ("exportV4", "importV4", "exportV6", "importV6")


def _known(kind: str) -> dict[str, Field]:
    return {f.path: f for f in FIELDS.get(kind, ())}


_KNOWN: Final = {kind: _known(kind) for kind in FIELDS}


def _objects(value: Mapping[str, object], where: str) -> Iterator[Mapping[str, object]]:
    """The objects at `where` ("spec.bgp", "spec.{...}[]", "x.operations[]") in `value`."""
    if where.startswith(_RULE):
        spec = value.get("spec")
        rules = (
            item
            for name in _RULE_LISTS
            if isinstance(spec, dict) and isinstance(spec.get(name), list)
            for item in spec[name]
            if isinstance(item, dict)
        )
        rest = where[len(_RULE) :].lstrip(".")
        for rule in rules:
            yield from _descend(rule, rest)
        return
    yield from _descend(value, where)


def _descend(value: Mapping[str, object], path: str) -> Iterator[Mapping[str, object]]:
    if not path:
        yield value
        return
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    child = value.get(head.removesuffix("[]"))
    items = child if many and isinstance(child, list) else [child]
    for item in items:
        if isinstance(item, dict):
            yield from _descend(item, rest)


def field_notes(kind: str, value: Mapping[str, object]) -> list[tuple[str, str]]:
    """(field path, why) for each field of `value` (a resource of `kind`) that pyrr does not
    apply and should say so once: unknown fields ("not known to pyrr ...") and set IGNORED
    ones (their note)."""
    known = _KNOWN.get(kind)
    if known is None:
        return []
    notes: list[tuple[str, str]] = []
    for where in _CHECKED.get(kind, ()):
        for obj in _objects(value, where):
            for key in obj:
                path = f"{where}.{key}"
                spec = known.get(path)
                if spec is None:
                    notes.append((path, "not known to pyrr (a newer Calico's field?): ignored"))
                elif spec.use is Use.IGNORED and obj[key] not in (None, "", [], {}, 0, False):
                    notes.append((path, f"ignored: {spec.note}"))
    return notes
