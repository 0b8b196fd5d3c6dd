"""The sessions pyrr wants (Want), turned into PeerConfig with their BGPPeer's settings.

Both ways of computing the peers (pyrr.store.calico.desired's calico/routereflector rules and
pyrr.store.calico.node_peers' calico-node rules) end in a list of Want, in the order the first
of two sessions to one address wins in; `peer_configs()` makes the PeerConfigs. What it
applies, following confd's buildPeerFromData (confd/pkg/backends/calico/bgp_processor.go) and
the BGPPeer fields it copies (client.go: nodeAsBGPPeers, setPeerConfigFieldsFromV3Resource):

- local AS: the BGPPeer's `localASNumber` on the sessions it configures on pyrr's side (a
  `peerIP` peering); the global one otherwise (confd never copies it into selector peerings or
  reverse peerings, where the BGPPeer configures the far end). `numAllowedLocalASNumbers`
  likewise (BIRD's `allow local as`: how often pyrr's AS may be in a received AS_PATH).
- client (RFC 4456): iBGP (peer AS = that local AS) and the far end is not a reflector of
  pyrr's own cluster (its routeReflectorClusterID empty or different), as confd writes
  `rr client` for a reflector; eBGP peers and registered pyrr instances are non-clients.
- next hop: `nextHopMode` Self or Keep; else the deprecated `keepOriginalNextHop`, which confd
  applies to eBGP peers only; else Auto (keep towards iBGP, self towards eBGP).
- `sourceAddress` None: no local address; UseNodeIP (the default): pyrr's address.
- `ttlSecurity` hops (RFC 5082), `maxRestartTime` (the restart time advertised, RFC 4724),
  `keepaliveTime` (must be below the hold time, else the default is used and it is reported).
- password: the secret `password.secretKeyRef` names (pyrr.store.calico.secrets), else
  Identity.password (PYRR_BGP_PASSWORD[_FILE]); an unreadable secret is reported with its
  path, and the session gets the fallback (or no key) until it can be read.
- filters: the BGPFilters `filters` names, in order; a name with no (usable) BGPFilter is
  reported and left out, as confd leaves out a filter it cannot find.
- families: a session carries its address's family only (calico-node's bird peers over IPv4
  for IPv4 routes, bird6 over IPv6 for IPv6 ones, outside routers and other reflectors
  included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address

from ...bgp.constants import DEFAULT_HOLD_TIME
from ...config import IPAddress, NextHopMode, PeerConfig, RouteFilter
from ..limits import NEXT_HOP_MODES
from .model import Identity, IPVersion, SecretRead
from .resources import BGPPeer
from .secrets import digest

__all__ = ["Want", "peer_configs"]

Report = Callable[[str, str], None]  # (etcd key, message)


@dataclass(frozen=True, slots=True)
class Want:
    """One wanted session before it becomes a PeerConfig."""

    address: IPAddress
    asn: int
    family: IPVersion
    kind: str
    description: str
    port: int
    cluster_id: IPv4Address | None  # the far end's, when it is a route reflector
    source: str  # the key of the BGPPeer or registration asking for it
    always_non_client: bool = False
    peer: BGPPeer | None = None  # the BGPPeer whose settings apply
    reverse: bool = False  # the BGPPeer configures the far end (its localASNumber is not ours)


class _Builder:
    def __init__(
        self,
        me: Identity,
        local_as: int,
        filters: Mapping[str, RouteFilter],
        problem: Report,
    ) -> None:
        self.me = me
        self.local_as = local_as
        self.filters = filters
        self.problem = problem
        self.secrets: dict[tuple[str, str], SecretRead] = {}

    def build(self, want: Want) -> PeerConfig:
        me = self.me
        peer = want.peer
        session = peer.session if peer is not None else None
        local_asn = None
        allow_local_as = 0
        # confd copies localASNumber and numAllowedLocalASNumbers into peerIP peerings only
        # (never selector or reverse ones).
        if peer is not None and not want.reverse and peer.peer_ip is not None:
            local_asn = peer.session.local_asn
            allow_local_as = peer.session.allow_local_as
        effective_as = local_asn or self.local_as
        ibgp = want.asn == effective_as
        client = not want.always_non_client and ibgp and want.cluster_id != me.effective_cluster_id
        local_address = me.ip if want.family == IPVersion.V4 else me.ip6
        if session is not None and not session.use_node_ip:
            local_address = None
        return PeerConfig(
            address=want.address,
            asn=want.asn,
            client=client,
            passive=False,
            port=want.port,
            local_address=local_address,
            description=want.description,
            kind=want.kind,
            password=self.password(want),
            ttl_security=(session.ttl_security or 0) if session is not None else 0,
            local_asn=None if local_asn == self.local_as else local_asn,
            keepalive_time=self.keepalive(want),
            restart_time=session.restart_time if session is not None else None,
            next_hop=self.next_hop(want, ibgp=ibgp),
            filters=self.route_filters(want),
            allow_local_as=allow_local_as,
            own_family_only=True,
        )

    def next_hop(self, want: Want, *, ibgp: bool) -> NextHopMode:
        if want.peer is None:
            return NextHopMode.AUTO
        session = want.peer.session
        if session.next_hop_mode is not None:
            return NEXT_HOP_MODES[session.next_hop_mode]
        if session.keep_original_next_hop and not ibgp:
            return NextHopMode.KEEP
        return NextHopMode.AUTO

    def keepalive(self, want: Want) -> int | None:
        if want.peer is None or want.peer.session.keepalive_time is None:
            return None
        seconds = want.peer.session.keepalive_time
        if seconds >= DEFAULT_HOLD_TIME:
            self.problem(
                want.source,
                f"spec.keepaliveTime {seconds}s is not below the hold time"
                f" ({DEFAULT_HOLD_TIME}s): keepalives every third of the hold time instead",
            )
            return None
        return seconds

    def password(self, want: Want) -> str | None:
        fallback = self.me.password
        if want.peer is None or want.peer.session.secret is None:
            return fallback
        name, key = want.peer.session.secret
        found = self.secrets.get((name, key))
        if found is None:
            lookup = self.me.secrets
            found = lookup(name, key) if lookup else SecretRead(None, "no secrets", mounted=False)
            self.secrets[(name, key)] = found
        value, where, mounted = found
        if value is not None:
            return value
        if fallback is not None and not mounted:
            # No secrets directory at all: PYRR_BGP_PASSWORD[_FILE] is the key, as before
            # pyrr read secrets; nothing to report.
            return fallback
        instead = (
            "PYRR_BGP_PASSWORD's key"
            if fallback is not None
            else "no TCP MD5 key (PYRR_BGP_PASSWORD or PYRR_BGP_PASSWORD_FILE would give one)"
        )
        self.problem(
            want.source,
            f"spec.password: secret {name!r} key {key!r} cannot be read: {where}; its sessions"
            f" have {instead} until it can",
        )
        return fallback

    def route_filters(self, want: Want) -> tuple[RouteFilter, ...]:
        if want.peer is None:
            return ()
        found: list[RouteFilter] = []
        for name in want.peer.session.filters:
            route_filter = self.filters.get(name)
            if route_filter is None:
                self.problem(
                    want.source,
                    f"spec.filters names BGPFilter {name!r}, which does not exist or is not"
                    " usable: its sessions are configured without it (as calico-node does)",
                )
            else:
                found.append(route_filter)
        return tuple(found)


def peer_configs(
    wants: Iterable[Want],
    me: Identity,
    local_as: int,
    filters: Mapping[str, RouteFilter],
    problem: Report,
) -> tuple[tuple[PeerConfig, ...], tuple[tuple[str, str, str], ...]]:
    """The PeerConfigs of `wants` (the first of two to one address wins; a loser asking for
    another AS is reported), and (name, key, digest) of each secret read."""
    builder = _Builder(me, local_as, filters, problem)
    seen: dict[IPAddress, Want] = {}
    peers: list[PeerConfig] = []
    for want in wants:
        first = seen.setdefault(want.address, want)
        if first is not want:
            if first.asn != want.asn:
                problem(
                    want.source,
                    f"asks for a session to {want.address} with AS {want.asn}, but"
                    f" {first.source} already asked for AS {first.asn}; the first is kept",
                )
            continue
        peers.append(builder.build(want))
    secrets = tuple(
        (name, key, digest(read.value)) for (name, key), read in sorted(builder.secrets.items())
    )
    return tuple(peers), secrets
