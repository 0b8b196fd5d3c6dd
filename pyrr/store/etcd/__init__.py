"""The etcd v3 client: a snapshot of a few prefixes, then a stream of changes; leases
(client, leases); one connection to one member (connect); a few guarded calls and done, for
`pyrr init-node` (oneshot)."""
