"""Our side of every session of one speaker: identity, timers and the capabilities we offer."""

from __future__ import annotations

import random
from functools import partial

from ..bgp.capabilities import Capabilities, GracefulRestart
from ..bgp.constants import AddPathMode, GRFlags
from ..bgp.fsm import OPEN_WAIT_TIME, SessionConfig
from ..bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from ..config import GlobalConfig, PeerConfig
from .backoff import JITTER_LOW, jitter
from .ports import Deferral

# RFC 4271 §10 jitters the KeepaliveTimer by a factor from 0.75 to 1.0; the top of the range is
# cut to 0.95 so that a KEEPALIVE a busy event loop sends a little late still comes within the
# interval (a third of the hold time), with 5% of it to spare.
KEEPALIVE_JITTER_HIGH = 0.95

FAMILIES = (IPV4_UNICAST, IPV6_UNICAST)
IPV4_VERSION = 4


def capabilities(
    g: GlobalConfig,
    restarting: bool,
    restart_time: int | None = None,
    asn: int | None = None,
    families: tuple[Family, ...] = FAMILIES,
) -> Capabilities:
    # RFC 7911 §4: offer to send several paths per prefix when configured to. Send only: what
    # peers send us is decoded as before (one path per prefix and peer), and a peer that
    # cannot receive ADD-PATH negotiates nothing and is sent the best path as before.
    add_path = tuple((f, AddPathMode.SEND) for f in families) if g.add_path_send > 1 else ()
    return Capabilities(
        families=families,
        route_refresh=True,
        enhanced_route_refresh=True,
        four_octet_as=g.asn if asn is None else asn,  # RFC 6793 §3: our AS on the session
        # RFC 4724 §3: as a helper we list our families so a restarting peer knows we keep its
        # routes; F=1 because pyrr's forwarding state (none: an RR does not forward) cannot be
        # lost by a restart of the peer.
        graceful_restart=GracefulRestart(
            # RFC 4724 §4.1: the Restart State bit while we recover from a restart.
            flags=GRFlags.RESTART if restarting else GRFlags.NONE,
            restart_time=g.restart_time if restart_time is None else restart_time,
            families=tuple((f, True) for f in families),
        ),
        extended_message=True,
        add_path=add_path,
    )


class Local:
    """Settings every neighbour of one speaker shares; `restarting` while RFC 4724 §4.1
    recovery lasts (our OPENs then carry the Restart State bit)."""

    bgp: GlobalConfig
    router_id: int
    cluster_id: int

    def __init__(self, bgp: GlobalConfig, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.deferral: Deferral | None = None  # set while pyrr recovers from its own restart
        # RFC 4271 §10's "large value" for the hold timer in OpenSent: how long a connection
        # may take to send a whole OPEN (tests shorten it).
        self.open_wait = OPEN_WAIT_TIME
        self._caps: dict[tuple[bool, int | None, int | None, tuple[Family, ...]], Capabilities] = {}
        self.set_global(bgp)

    def set_global(self, bgp: GlobalConfig) -> None:
        self.bgp = bgp
        self.router_id = int(bgp.router_id)
        self.cluster_id = int(bgp.cluster_id)
        self._caps.clear()  # the AS or restart time may change

    @property
    def restarting(self) -> bool:
        return self.deferral is not None and self.deferral.active

    def capabilities(
        self,
        restart_time: int | None = None,
        asn: int | None = None,
        families: tuple[Family, ...] = FAMILIES,
    ) -> Capabilities:
        """What our OPENs offer; `restart_time`: a peer's own RFC 4724 restart time (Calico's
        BGPPeer maxRestartTime), else the global one; `asn`: the session's own local AS;
        `families`: the address families offered. One object per distinct set, so a thousand
        alike sessions share one (and one OPEN)."""
        key = (self.restarting, restart_time, asn, families)
        caps = self._caps.get(key)
        if caps is None:
            caps = self._caps[key] = capabilities(self.bgp, key[0], restart_time, asn, families)
        return caps

    @staticmethod
    def families(peer: PeerConfig) -> tuple[Family, ...]:
        """The families offered to a peer: both, or its address's own (Calico mode)."""
        if not peer.own_family_only:
            return FAMILIES
        return (IPV4_UNICAST,) if peer.address.version == IPV4_VERSION else (IPV6_UNICAST,)

    def local_as(self, peer: PeerConfig) -> int:
        """Our AS on a session: the peer's own local AS (BGPPeer localASNumber), else ours."""
        return self.bgp.asn if peer.local_asn is None else peer.local_asn

    def session_config(self, peer: PeerConfig) -> SessionConfig:
        g = self.bgp
        return SessionConfig(
            local_as=self.local_as(peer),
            router_id=self.router_id,
            peer_as=peer.asn,
            capabilities=self.capabilities(peer.restart_time, peer.local_asn, self.families(peer)),
            hold_time=peer.hold_time,
            passive=peer.passive,
            # RFC 4271 §10: jitter the ConnectRetryTimer so that two speakers dialing each
            # other do not stay in lock step.
            connect_retry_time=jitter(self.rng, float(g.connect_retry)),
            open_wait_time=self.open_wait,
            keepalive_time=peer.keepalive_time,
            keepalive_jitter=partial(self.rng.uniform, JITTER_LOW, KEEPALIVE_JITTER_HIGH),
        )

    def source_address(self, peer: PeerConfig) -> str | None:
        """Dial from the peer's own local address, else a listen address of its family, so the
        peer sees the address it has configured for us (Calico nodes configure the RR's IP)."""
        if peer.local_address is not None:
            return str(peer.local_address)
        for a in self.bgp.listen:
            if a.version == peer.address.version:
                return str(a)
        return None
