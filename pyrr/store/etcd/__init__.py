"""The etcd v3 client: a snapshot of a few prefixes, then a stream of changes; leases."""
