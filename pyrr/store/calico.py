"""Calico's v3 data model (as stored in etcd) turned into the peers pyrr should have.

Input: the parsed JSON of `/calico/resources/v3/projectcalico.org/{nodes,bgppeers,
bgpconfigurations}/<name>` and of the RR registrations `/calico/bgp/v1/rr_v4|rr_v6/<ip>`
(CalicoModel), plus who pyrr is (Identity). Output: `desired()` -> Desired, the local AS, the
datastore's log level and a tuple of PeerConfig, with every problem in the data reported as
(key, message) instead of raised. The etcd layer feeds values through `parse_resource()` first.

This module is the one place the rest of pyrr imports that from; each idea lives in its own
module, and the names below are re-exported unchanged:

- pyrr.store.calico_model: the data model and key layout, which the other two import and which
  imports neither: the prefixes and constants (PREFIXES, RESOURCE_PREFIX, RR_V4_PREFIX,
  RR_V6_PREFIX, API_VERSION, KINDS, MAX_ASN, MAX_PORT, BGP_PORT), Resource, Problem,
  CalicoModel, Identity, Desired, `resource_key()`, and `registration_key()` /
  `registration_value()` (the RR registration scheme, calico issue #1887).
- pyrr.store.calico_resources: decoding and validating one etcd value, `parse_resource()`, and
  the per-resource readers desired() uses; what malformed data costs.
- pyrr.store.calico_desired: `desired()`, the semantics: which BGPPeers point at pyrr, the
  local and peer AS, clients and non-clients (RFC 4456), selectors (Calico 3.3+), the RR
  cluster mesh, TCP MD5 (RFC 2385), and what pyrr decides where calico/routereflector v0.6 was
  broken or silent.

pyrr.store.calico_source (CalicoSource) runs all this against a live etcd.
"""

from __future__ import annotations

from .calico_desired import desired
from .calico_model import (
    API_VERSION,
    BGP_PORT,
    KINDS,
    MAX_ASN,
    MAX_PORT,
    PREFIXES,
    RESOURCE_PREFIX,
    RR_V4_PREFIX,
    RR_V6_PREFIX,
    CalicoModel,
    Desired,
    Identity,
    Problem,
    Resource,
    registration_key,
    registration_value,
    resource_key,
)
from .calico_resources import parse_resource

__all__ = [
    "API_VERSION",
    "BGP_PORT",
    "KINDS",
    "MAX_ASN",
    "MAX_PORT",
    "PREFIXES",
    "RESOURCE_PREFIX",
    "RR_V4_PREFIX",
    "RR_V6_PREFIX",
    "CalicoModel",
    "Desired",
    "Identity",
    "Problem",
    "Resource",
    "desired",
    "parse_resource",
    "registration_key",
    "registration_value",
    "resource_key",
]
