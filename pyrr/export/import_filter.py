"""Import filters (Calico's BGPFilter importV4/importV6) on a received UPDATE, before the RIB:
a rejected route is treated as withdrawn (it replaces, and so removes, what the peer announced
for the prefix before), and an accepted one enters the RIB with the rule's operations applied.
Routes of families without import rules pass untouched."""

from __future__ import annotations

import functools

from ..bgp.nlri import PATH_ID_LEN, SUPPORTED_FAMILIES, Family
from ..bgp.update import Update
from ..config import RouteFilter
from .filters import Matcher, Operations, apply_operations, import_chain, matcher


@functools.lru_cache(maxsize=256)
def import_matchers(filters: tuple[RouteFilter, ...]) -> dict[Family, Matcher]:
    """The compiled import rules of a peer's filters, by family (empty: nothing to filter)."""
    chain = import_chain(filters)
    if chain is None:
        return {}
    return {f: matcher(chain.rules(f)) for f in SUPPORTED_FAMILIES if chain.rules(f)}


def filter_update(
    update: Update, matchers: dict[Family, Matcher], ibgp: bool, add_path_rx: frozenset[Family]
) -> list[Update]:
    """The UPDATE as the RIB should see it: the first with what passes unchanged and every
    withdrawal (the rejected routes among them), then one per distinct set of operations.
    `ibgp`: the peer the routes come from is internal (the rules' peerType)."""
    attrs = update.attrs
    if attrs is None or not update.announced:
        return [update]
    kept: list[tuple[Family, bytes, list[bytes]]] = []
    rejected: list[tuple[Family, list[bytes]]] = []
    changed: dict[Operations, list[tuple[Family, bytes, list[bytes]]]] = {}
    for family, next_hop, keys in update.announced:
        m = matchers.get(family)
        if m is None:
            kept.append((family, next_hop, keys))
            continue
        by_verdict: dict[Operations | None, list[bytes]] = {}
        if m.prefix_free:
            by_verdict[m.decide(b"", attrs, ibgp)] = keys
        else:
            # RFC 7911 §3: a received path id sits in front of the prefix.
            skip = PATH_ID_LEN if family in add_path_rx else 0
            for key in keys:
                by_verdict.setdefault(m.decide(key[skip:], attrs, ibgp), []).append(key)
        for verdict, ks in by_verdict.items():
            if verdict is None:
                rejected.append((family, ks))
            elif not verdict:
                kept.append((family, next_hop, ks))
            else:
                changed.setdefault(verdict, []).append((family, next_hop, ks))
    if not rejected and not changed:
        return [update]
    out = [
        Update(
            attrs=attrs if kept else None,
            announced=kept,
            withdrawn=update.withdrawn + rejected,
            error=update.error,
            notes=update.notes,
        )
    ]
    for ops, announced in changed.items():
        out.append(Update(attrs=apply_operations(attrs, ops), announced=announced))
    return out
