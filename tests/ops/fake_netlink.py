"""A made-up host for pyrr.ops.autodetect's netlink reader: pyroute2's IPRoute replaced by one
that lists the interfaces and addresses a test gives it (link dumps and address dumps, with
interface indexes, as the kernel answers them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address
from socket import AF_INET

import pyroute2
import pytest


class _Message:
    """Just enough of a pyroute2 message: msg["index"] and msg.get_attr(NAME)."""

    def __init__(self, index: int, attrs: dict[str, str]) -> None:
        self._index = index
        self._attrs = attrs

    def __getitem__(self, key: str) -> int:
        assert key == "index", key
        return self._index

    def get_attr(self, name: str) -> str | None:
        return self._attrs.get(name)


@dataclass
class FakeHost:
    """Interfaces (index, name) and their addresses in the kernel's order."""

    links: dict[int, str] = field(default_factory=dict)
    addresses: list[tuple[int, str]] = field(default_factory=list)

    def add(self, index: int, name: str, *addresses: str) -> None:
        self.links[index] = name
        self.addresses += [(index, address) for address in addresses]

    def get_links(self) -> list[_Message]:
        return [_Message(i, {"IFLA_IFNAME": name}) for i, name in self.links.items()]

    def get_addr(self, family: int) -> list[_Message]:
        version = 4 if family == AF_INET else 6
        return [
            _Message(i, {"IFA_LOCAL": address, "IFA_ADDRESS": address})
            for i, address in self.addresses
            if ip_address(address).version == version
        ]


def fake_host(monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    """Replace netlink with a host the test fills in."""
    host = FakeHost()

    class FakeIPRoute:
        def __enter__(self) -> FakeHost:
            return host

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(pyroute2, "IPRoute", FakeIPRoute)
    return host


def break_netlink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host whose netlink cannot be opened (not Linux, a locked-down sandbox)."""

    def broken() -> None:
        raise OSError("netlink unavailable")

    monkeypatch.setattr(pyroute2, "IPRoute", broken)
