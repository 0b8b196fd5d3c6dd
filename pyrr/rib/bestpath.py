"""Best path selection: RFC 4271 §9.1.2.2 as an elimination over the candidates, with the
RFC 4456 §9 route-reflection steps, recording which step decided (like GoBGP's BestPathReason).

Elimination (rather than pairwise comparison) keeps MED honest: RFC 4271 §9.1.2.2 c removes a
route only against routes from the same neighbouring AS, which is not a total order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..bgp.attributes import as_path_length, first_as
from .path import Path
from .reason import Reason

DEFAULT_LOCAL_PREF = 100


def local_pref(p: Path) -> int:
    lp = p.attrs.local_pref
    return DEFAULT_LOCAL_PREF if lp is None or not p.source.ibgp else lp


def _keep_min(cands: list[Path], key: Callable[[Path], object]) -> list[Path]:
    vals = [key(p) for p in cands]
    best = min(vals)  # type: ignore[type-var]
    return [p for p, v in zip(cands, vals, strict=True) if v == best]


def _med_step(cands: list[Path]) -> list[Path]:
    # Missing MED counts as 0 (RFC 4271 §9.1.2.2 c, "the lowest possible value"); routes with an
    # empty AS_PATH (from inside our AS) form one group.
    lowest: dict[int | None, int] = {}
    for p in cands:
        nas, med = first_as(p.attrs.as_path), p.attrs.med or 0
        if nas not in lowest or med < lowest[nas]:
            lowest[nas] = med
    return [p for p in cands if (p.attrs.med or 0) <= lowest[first_as(p.attrs.as_path)]]


def _router_id(p: Path) -> int:
    oid = p.attrs.originator_id
    return oid if oid is not None else p.source.router_id


_STEPS: tuple[tuple[Reason, Callable[[list[Path]], list[Path]]], ...] = (
    (Reason.LOCAL_PREF, lambda c: _keep_min(c, lambda p: -local_pref(p))),
    (Reason.AS_PATH, lambda c: _keep_min(c, lambda p: as_path_length(p.attrs.as_path))),
    (Reason.ORIGIN, lambda c: _keep_min(c, lambda p: p.attrs.origin)),
    (Reason.MED, _med_step),
    (Reason.EBGP, lambda c: _keep_min(c, lambda p: p.source.ibgp)),
    (Reason.ROUTER_ID, lambda c: _keep_min(c, _router_id)),
    (Reason.CLUSTER_LIST, lambda c: _keep_min(c, lambda p: len(p.attrs.cluster_list))),
    (Reason.PEER_ADDRESS, lambda c: _keep_min(c, lambda p: p.source.addr_key)),
    (Reason.PATH_ID, lambda c: _keep_min(c, lambda p: p.path_id)),
)


def select(paths: Sequence[Path]) -> tuple[Path | None, Reason]:
    """The best of `paths` and the step that decided."""
    if not paths:
        return None, Reason.ONLY_PATH
    if len(paths) == 1:
        return paths[0], Reason.ONLY_PATH
    cands = list(paths)
    for reason, step in _STEPS:
        cands = step(cands)
        if len(cands) == 1:
            return cands[0], reason
    return cands[0], Reason.PATH_ID
