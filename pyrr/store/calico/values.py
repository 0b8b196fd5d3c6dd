"""Reading one field of a Calico v3 resource: the value types Calico's API uses, checked.

Every reader takes the parsed JSON and the field's path (`spec.asNumber`) for its message, and
raises `Bad` for the first thing wrong; the callers (pyrr.store.calico.resources, .filters,
.desired) turn that into a Problem for that one resource or field. The types follow Calico's
own: `asn()` is numorstring.ASNumber (asplain or asdot, 0 = not set), `node_address()` a
Node's `ipv4Address`/`ipv6Address` (prefix length dropped), `peer_ip()` a BGPPeer `peerIP`
(with or without a port), `selector()` a selector field (empty = not set, as confd tests
`!= ""`), `duration()` a Kubernetes metav1.Duration (Go's time.ParseDuration text, rounded to
whole seconds as confd rounds it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from ipaddress import IPv4Address, ip_address, ip_interface
from typing import Final

from ...config import IPAddress
from ..limits import ASN_RANGE, MAX_PORT, asdot, clip, is_unicast, valid_asn, valid_port
from .model import IPVersion
from .selector import Selector, SelectorError
from .selector import parse as parse_selector

__all__ = [
    "Bad",
    "as_object",
    "asn",
    "dotted_quad",
    "duration",
    "kind_of",
    "labels_of",
    "node_address",
    "optional_bool",
    "optional_int",
    "optional_object",
    "optional_str",
    "peer_ip",
    "selector",
    "show",
    "spec_of",
    "string_list",
]

# numorstring.ASNumber's asplain string (asdot is pyrr.store.limits.asdot).
_ASPLAIN: Final = re.compile(r"[0-9]{1,10}", re.ASCII)
# "[v6]:port", "[v6]" or "a.b.c.d:port"
_HOST_PORT: Final = re.compile(r"\[([^\]]+)\](?::[0-9]{1,5})?|([0-9.]+):[0-9]{1,5}", re.ASCII)
# Go's time.ParseDuration: an optional sign, then one or more decimal numbers with a unit.
_DURATION_PART: Final = re.compile(
    r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII
)
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
# Longer than any Go duration (int64 nanoseconds, about 292 years); keeps the text short.
_MAX_DURATION_TEXT: Final = 64


class Bad(Exception):
    """One resource's (or one field's) problem; caught by the caller and turned into a Problem."""


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def show(value: object) -> str:
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int) and abs(value) < 10**20:
        return str(value)
    return kind_of(value)


def as_object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise Bad(f"{where} is {kind_of(value)}, expected an object")
    return value


def optional_object(parent: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = parent.get(key)
    return {} if value is None else as_object(value, where)


def optional_str(parent: Mapping[str, object], key: str, where: str) -> str | None:
    """A string field; absent, null and "" all mean "not set"."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Bad(f"{where} is {kind_of(value)}, expected a string")
    return value or None


def optional_bool(parent: Mapping[str, object], key: str, where: str) -> bool | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise Bad(f"{where} is {show(value)}, expected true or false")
    return value


def optional_int(
    parent: Mapping[str, object], key: str, where: str, low: int, high: int
) -> int | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Bad(f"{where} is {show(value)}, expected an integer from {low} to {high}")
    return value


def string_list(parent: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = parent.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Bad(f"{where} is {kind_of(value)}, expected an array of strings")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise Bad(f"{where}[{index}] is {show(item)}, expected a non-empty string")
    return tuple(value)


def asn(value: object, where: str) -> int | None:
    """Calico's numorstring.ASNumber: a number or a string, asplain or asdot; 0 = not set."""
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = int(text) if _ASPLAIN.fullmatch(text) else asdot(text)
    # 0 is Calico's "not set".
    if number is None or not (number == 0 or valid_asn(number)):
        raise Bad(
            f"{where} is {show(value)}, expected {ASN_RANGE}"
            ' (a number, or a string like "64512" or "1.10")'
        )
    return number or None


def node_address(text: str, where: str, family: IPVersion) -> IPAddress:
    """A node address: "a.b.c.d/len" (the prefix length is dropped) or a bare address."""
    try:
        address = ip_interface(text.strip()).ip
    except ValueError:
        raise Bad(f"{where} is {show(text)}, expected an IPv{family} address") from None
    if address.version != family:
        raise Bad(f"{where} is {show(text)}: an IPv{address.version} address, expected IPv{family}")
    if not is_unicast(address):
        raise Bad(f"{where} is {show(text)}, expected a unicast address")
    return address


def peer_ip(text: str, where: str) -> tuple[IPAddress, int | None]:
    """BGPPeer peerIP: an address, "a.b.c.d:port" or "[v6]:port"; (address, port or None)."""
    text = text.strip()
    host = text
    port: int | None = None
    if m := _HOST_PORT.fullmatch(text):
        host = m.group(1) or m.group(2)
        _, colon, digits = text.rpartition(":")
        if colon and digits.isdigit() and not text.endswith("]"):
            port = int(digits)
    try:
        address = ip_address(host)
    except ValueError:
        raise Bad(f"{where} is {show(text)}, expected an IP address") from None
    if address.is_unspecified or address.is_multicast:
        raise Bad(f"{where} is {show(text)}, expected a unicast address")
    if port is not None and not valid_port(port):
        raise Bad(f"{where} is {show(text)}: port {port} is not 1 to {MAX_PORT}")
    return address, port


def dotted_quad(text: str | None, where: str, example: str = "") -> IPv4Address | None:
    """A cluster id: Calico writes them as dotted quads only."""
    if text is None:
        return None
    try:
        return IPv4Address(text.strip())
    except ValueError:
        raise Bad(f"{where} is {show(text)}, expected a dotted quad{example}") from None


def selector(text: str | None, where: str) -> Selector | None:
    if text is None:
        return None  # "" too: an empty selector field is "not set"
    try:
        return parse_selector(text)
    except SelectorError as err:
        raise Bad(f"{where} is not a valid selector: {err}") from None


def labels_of(metadata: Mapping[str, object]) -> dict[str, str]:
    raw = metadata.get("labels")
    if raw is None:
        return {}
    labels = as_object(raw, "metadata.labels")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise Bad(f"metadata.labels[{key!r}] is {kind_of(value)}, expected a string")
    return {str(k): v for k, v in labels.items() if isinstance(v, str)}


def spec_of(value: object, *, required: bool) -> tuple[Mapping[str, object], Mapping[str, object]]:
    """(metadata, spec) of a resource; `required`: a missing spec is Bad."""
    resource = as_object(value, "the resource")
    metadata = optional_object(resource, "metadata", "metadata")
    if required and resource.get("spec") is None:
        raise Bad("has no spec")
    return metadata, optional_object(resource, "spec", "spec")


def duration(parent: Mapping[str, object], key: str, where: str) -> int | None:
    """A metav1.Duration ("120s", "1m30s", "1.5h") in whole seconds, rounded as confd rounds
    it (math.Round); absent or "" = not set. A negative duration is Bad."""
    value = parent.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Bad(f'{where} is {show(value)}, expected a duration string like "120s"')
    text = value.strip()
    seconds = _parse_go_duration(text) if len(text) <= _MAX_DURATION_TEXT else None
    if seconds is None:
        raise Bad(
            f'{where} is {show(value)}, expected a duration like "120s", "2m" or "1m30s"'
            " (units h, m, s, ms)"
        )
    if seconds < 0:
        raise Bad(f"{where} is {show(value)}, expected a duration that is not negative")
    # Go's math.Round: half away from zero (Python's round() is half to even).
    return int(seconds + 0.5)


def _parse_go_duration(text: str) -> float | None:
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return sign * total if pos else None
