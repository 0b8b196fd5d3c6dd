"""The two error types of the sans-IO layer (after h11's Local/RemoteProtocolError split).

`BGPError` is the peer breaking the protocol: it carries exactly what goes into the NOTIFICATION
(RFC 4271 §4.5: code, subcode, data). The decoder raises nothing else for any input.
`LocalProtocolError` is pyrr misusing the API (sending an UPDATE before Established, say).
"""

from __future__ import annotations

from .constants import CeaseSub, ErrCode, FsmSub, HeaderSub, OpenSub, RouteRefreshSub, UpdateSub

_SUBCODES: dict[
    int, type[HeaderSub | OpenSub | UpdateSub | FsmSub | CeaseSub | RouteRefreshSub]
] = {
    ErrCode.MESSAGE_HEADER: HeaderSub,
    ErrCode.OPEN_MESSAGE: OpenSub,
    ErrCode.UPDATE_MESSAGE: UpdateSub,
    ErrCode.FSM: FsmSub,
    ErrCode.CEASE: CeaseSub,
    ErrCode.ROUTE_REFRESH_MESSAGE: RouteRefreshSub,
}


def describe(code: int, subcode: int) -> str:
    """Human name of a NOTIFICATION code/subcode, e.g. 'OPEN_MESSAGE/BAD_PEER_AS'."""
    try:
        code_name = ErrCode(code).name
    except ValueError:
        return f"{code}/{subcode}"
    sub_enum = _SUBCODES.get(code)
    if sub_enum is None:
        return f"{code_name}/{subcode}" if subcode else code_name
    try:
        return f"{code_name}/{sub_enum(subcode).name}"
    except ValueError:
        return f"{code_name}/{subcode}"


class BGPError(Exception):
    """A protocol violation by the peer, to be answered with this NOTIFICATION."""

    def __init__(self, code: int, subcode: int = 0, data: bytes = b"", reason: str = "") -> None:
        self.code = int(code)
        self.subcode = int(subcode)
        self.data = bytes(data)
        self.reason = reason
        super().__init__(
            f"{describe(self.code, self.subcode)}: {reason}"
            if reason
            else describe(self.code, self.subcode)
        )


class LocalProtocolError(Exception):
    """pyrr itself used the sans-IO API wrongly; a bug, never the peer's fault."""
