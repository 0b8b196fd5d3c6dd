"""The routing information bases: Adj-RIB-In per peer, Loc-RIB with best path, RFC 4456 rules.

It reports *changes* (old best, new best) and never rescans the table for one update.
"""
