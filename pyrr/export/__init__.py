"""The export layer: who is sent which route (RFC 4456), with which attributes, packed once per
update group and written to every member. Peers use `Export`'s API, never a group's insides."""
