"""Calico mode: Calico's v3 resources in etcd turned into pyrr's peers, and kept so live."""
