"""Route filters (Calico's BGPFilter): which routes a peer takes from us or gives us, and the
attribute changes an accepting rule makes. Evaluated the way confd renders them for BIRD
(confd/pkg/resource/template/template_funcs.go, `filterStatement`, and the peer's
import/export blocks in confd/pkg/backends/calico/bgp_processor.go):

- each filter is a BIRD function whose rules are tried in order; the first rule whose every set
  field matches decides: Reject, or Accept after its operations;
- a filter none of whose rules matches returns, and the next filter of the peer is tried; so a
  peer's filters behave as the concatenation of their rules (`Chain`);
- when no rule of any filter matches, import ends in `accept;` and export in
  `calico_export_to_bgp_peers()`: the route is handled as if there were no filter (for pyrr:
  accepted on import, reflected by the RFC 4456 rules on export).

The verdict is `None` (reject) or the operations to apply (empty: take the route as it is).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

from ..bgp.attributes import AsPath, PathAttrs, encode_as_path
from ..bgp.constants import IPV4_ADDR_LEN, IPV6_ADDR_LEN, AsPathSegType, AttrCode
from ..bgp.nlri import IPV4_UNICAST, Family
from ..config import (
    FilterAction,
    FilterOperation,
    FilterRule,
    IPNetwork,
    MatchOperator,
    PeerType,
    RouteFilter,
)

Operations = tuple[FilterOperation, ...]
Verdict = Operations | None  # None: rejected; () accepted unchanged
ACCEPT: Operations = ()

_STD_COMMUNITY = 2  # (asn, value): RFC 1997, 4 octets
_LARGE_COMMUNITY = 3  # (global admin, local 1, local 2): RFC 8092, 12 octets
_STD_LEN = 4
_LARGE_LEN = 12
# RFC 4271 §4.3: an AS_PATH segment holds at most 255 AS numbers (a one-octet count).
_MAX_SEGMENT_ASNS = 255


@dataclass(frozen=True, slots=True)
class Chain:
    """One direction of a peer's filters: the rules of all its filters, in evaluation order,
    per family. Peers whose chains are equal are filtered alike (and may share an update
    group), whatever their filters are named."""

    v4: tuple[FilterRule, ...] = ()
    v6: tuple[FilterRule, ...] = ()

    def rules(self, family: Family) -> tuple[FilterRule, ...]:
        return self.v4 if family == IPV4_UNICAST else self.v6


def export_chain(filters: tuple[RouteFilter, ...]) -> Chain | None:
    """The export rules of `filters` in order; None when there are none (no filtering)."""
    v4 = tuple(r for f in filters for r in f.export_v4)
    v6 = tuple(r for f in filters for r in f.export_v6)
    return Chain(v4, v6) if v4 or v6 else None


def import_chain(filters: tuple[RouteFilter, ...]) -> Chain | None:
    v4 = tuple(r for f in filters for r in f.import_v4)
    v6 = tuple(r for f in filters for r in f.import_v6)
    return Chain(v4, v6) if v4 or v6 else None


class _Rule:
    """One FilterRule with its CIDR, communities and AS path prefix in the forms the route is
    compared in (integers, wire bytes), made once per rule."""

    __slots__ = (
        "action",
        "as_path_prefix",
        "bits",
        "communities",
        "equal",
        "hi",
        "large",
        "lo",
        "negate",
        "net",
        "net_len",
        "never",
        "operations",
        "want_ibgp",
    )

    def __init__(self, rule: FilterRule) -> None:
        self.action = rule.action
        self.operations = rule.operations if rule.action == FilterAction.ACCEPT else ACCEPT
        # `interface` matches a kernel route's outgoing interface and `priority` its metric
        # (confd: `defined(ifname) && ifname ~ ...`, `krt_metric = N`). A reflector programs no
        # kernel routes and every route it holds was learned over BGP, so a rule that sets
        # either can never match here.
        self.never = bool(rule.interface) or rule.priority is not None
        # `source: RemotePeers` (confd: `source ~ [ RTS_BGP ]`) holds for every route an RR
        # reflects, so `remote_peers_only` adds no condition.
        self.want_ibgp = None if rule.peer_type is None else rule.peer_type == PeerType.IBGP
        self.communities = tuple(
            struct.pack("!HH", *c) for c in rule.communities if len(c) == _STD_COMMUNITY
        )
        self.large = tuple(
            struct.pack("!III", *c) for c in rule.communities if len(c) == _LARGE_COMMUNITY
        )
        self.as_path_prefix = rule.as_path_prefix
        self.net: int | None = None
        self.bits = self.net_len = self.lo = self.hi = 0
        self.negate = self.equal = False
        if rule.cidr is not None:
            cidr = rule.cidr
            self.bits = cidr.max_prefixlen
            self.net = int(cidr.network_address)
            self.net_len = cidr.prefixlen
            # confd's filterMatchPrefixLength: the CIDR's own length is the least a route may
            # have and the address size the most; prefixLength only narrows that range.
            lo, hi = rule.prefix_length or (cidr.prefixlen, cidr.max_prefixlen)
            self.lo = max(cidr.prefixlen, lo)
            self.hi = min(cidr.max_prefixlen, hi)
            # Calico requires matchOperator with cidr (confd refuses to render a rule without);
            # a value that lacks it is read as In, the operator of every confd example.
            op = rule.match_operator or MatchOperator.IN
            self.negate = op in (MatchOperator.NOT_IN, MatchOperator.NOT_EQUAL)
            self.equal = op in (MatchOperator.EQUAL, MatchOperator.NOT_EQUAL)

    def matches_prefix(self, prefix: bytes) -> bool:
        """The CIDR condition (BIRD's `net ~ [cidr{lo,hi}]`, `net = cidr` and negations) for a
        wire-form prefix (length octet, significant octets)."""
        net = self.net
        if net is None:
            return True
        plen = prefix[0]
        bits = self.bits
        value = int.from_bytes(prefix[1:], "big") << (bits - 8 * (len(prefix) - 1))
        if self.equal:
            # "Equal requires an exact prefix match"; a prefixLength range can only exclude
            # the CIDR itself.
            hit = plen == self.net_len and value == net and self.lo <= plen <= self.hi
        else:
            shift = bits - self.net_len
            hit = self.lo <= plen <= self.hi and value >> shift == net >> shift
        return hit != self.negate

    def matches_route(self, attrs: PathAttrs | None, ibgp: bool) -> bool:
        """Every condition that depends on the route's attributes and the peer, not on the
        prefix."""
        if self.never:
            return False
        if self.want_ibgp is not None and self.want_ibgp != ibgp:
            return False
        if self.communities or self.large or self.as_path_prefix:
            if attrs is None:
                return False
            if self.communities and not _has_all(
                attrs.get(AttrCode.COMMUNITIES), self.communities, _STD_LEN
            ):
                return False
            if self.large and not _has_all(
                attrs.get(AttrCode.LARGE_COMMUNITIES), self.large, _LARGE_LEN
            ):
                return False
            if self.as_path_prefix and not _starts_with(attrs.as_path, self.as_path_prefix):
                return False
        return True


def _has_all(value: bytes | None, wanted: tuple[bytes, ...], size: int) -> bool:
    """Every one of `wanted` is an element of the community list `value` (a rule names one
    community in Calico's API today; with several, all must be present: every set field of a
    rule must match)."""
    if not value:
        return False
    present = {value[i : i + size] for i in range(0, len(value) - size + 1, size)}
    return all(w in present for w in wanted)


def _starts_with(path: AsPath, prefix: tuple[int, ...]) -> bool:
    """BIRD's `bgp_path ~ [= a b * =]`: the path's first AS numbers are `prefix`. Counted
    through leading AS_SEQUENCE segments only; a set or confederation segment ends the
    comparison (it has no order to compare with)."""
    need = len(prefix)
    seen: list[int] = []
    for stype, asns in path:
        if stype != AsPathSegType.AS_SEQUENCE:
            break
        seen.extend(asns)
        if len(seen) >= need:
            break
    return tuple(seen[:need]) == prefix


class Matcher:
    """A compiled rule list: `decide` gives the verdict for one route."""

    __slots__ = ("prefix_free", "rules")

    def __init__(self, rules: tuple[FilterRule, ...]) -> None:
        self.rules = tuple(_Rule(r) for r in rules)
        # Without a CIDR condition the verdict is the same for every prefix of a path.
        self.prefix_free = all(r.net is None for r in self.rules)

    def decide(self, prefix: bytes, attrs: PathAttrs | None, ibgp: bool) -> Verdict:
        """First matching rule decides; no match: accepted unchanged. `ibgp`: the peer the
        route comes from (import) or goes to (export) is internal (confd's `is_same_as`)."""
        for r in self.rules:
            if r.matches_prefix(prefix) and r.matches_route(attrs, ibgp):
                return None if r.action == FilterAction.REJECT else r.operations
        return ACCEPT


@functools.lru_cache(maxsize=256)
def matcher(rules: tuple[FilterRule, ...]) -> Matcher:
    """The compiled form of a rule list, shared by every peer and group that has it."""
    return Matcher(rules)


# -- operations ------------------------------------------------------------------------------


def apply_operations(attrs: PathAttrs, ops: Operations) -> PathAttrs:
    """The attributes after an accepting rule's operations, in order (confd emits them before
    `accept;`). `setPriority` sets BIRD's `krt_metric`, the metric of the kernel route a node
    programs: a reflector programs none and it is no BGP attribute, so it changes nothing
    here."""
    for op in ops:
        if op.add_community is not None:
            attrs = _add_community(attrs, op.add_community)
        elif op.prepend_as_path:
            attrs = _prepend(attrs, op.prepend_as_path)
    return attrs


def _add_community(attrs: PathAttrs, community: tuple[int, ...]) -> PathAttrs:
    """BIRD's `bgp_community.add` / `bgp_large_community.add`: append unless present."""
    if len(community) == _STD_COMMUNITY:
        code, size, wire = AttrCode.COMMUNITIES, _STD_LEN, struct.pack("!HH", *community)
    elif len(community) == _LARGE_COMMUNITY:
        code, size, wire = AttrCode.LARGE_COMMUNITIES, _LARGE_LEN, struct.pack("!III", *community)
    else:
        return attrs
    old = attrs.get(code) or b""
    if _has_all(old, (wire,), size):
        return attrs
    return attrs.replace(code, old + wire)


def _prepend(attrs: PathAttrs, asns: tuple[int, ...]) -> PathAttrs:
    """`prependASPath`: the path afterwards begins with `asns` in the order given (confd emits
    one BIRD prepend per AS, last first). Joined to a leading AS_SEQUENCE when it has room."""
    path = attrs.as_path
    if path and path[0][0] == AsPathSegType.AS_SEQUENCE:
        first = (*asns, *path[0][1])
        rest = path[1:]
    else:
        first, rest = asns, path
    # encode_as_path splits a segment longer than 255 AS numbers (RFC 4271 §4.3).
    new_path = ((int(AsPathSegType.AS_SEQUENCE), first), *rest)
    return attrs.replace(AttrCode.AS_PATH, encode_as_path(new_path, 4))


# -- prefixes nobody is sent -------------------------------------------------------------------


class Blocked:
    """Calico's IPPool `disableBGPExport`: prefixes inside these networks are sent to nobody.
    One check per prefix, before any update group sees the change."""

    __slots__ = ("by_len",)

    def __init__(self, networks: tuple[IPNetwork, ...]) -> None:
        # By address length in octets: (network as int, prefix length, address bits).
        self.by_len: dict[int, list[tuple[int, int, int]]] = {}
        for net in networks:
            size = net.max_prefixlen // 8
            self.by_len.setdefault(size, []).append(
                (int(net.network_address), net.prefixlen, net.max_prefixlen)
            )

    def __bool__(self) -> bool:
        return bool(self.by_len)

    def blocks(self, family: Family, prefix: bytes) -> bool:
        nets = self.by_len.get(IPV4_ADDR_LEN if family == IPV4_UNICAST else IPV6_ADDR_LEN)
        if not nets:
            return False
        plen = prefix[0]
        for net, net_len, bits in nets:
            if plen < net_len:
                continue
            value = int.from_bytes(prefix[1:], "big") << (bits - 8 * (len(prefix) - 1))
            shift = bits - net_len
            if value >> shift == net >> shift:
                return True
        return False
