"""Calico mode: Calico's v3 resources in etcd turned into pyrr's peers, and kept so live.

model (keys, CalicoModel, Identity, Desired) · values (field types) · fields (every field, its
Calico version, what pyrr does with it) · resources (Node, BGPPeer, registrations) · filters
(BGPFilter) · secrets (mounted BGPPeer password secrets) · selector · reading (one typed read of
the datastore) · desired (calico/routereflector's rules, and the entry point) · node_self and
node_peers (pyrr as a Calico Node, NODENAME: who it is, and calico-node's peerings) · sessions
(BGPPeer settings into PeerConfig) · source (follows etcd, drives the speaker) · reporting (what
is logged once) · init_node (the Node `pyrr init-node` writes).
"""
