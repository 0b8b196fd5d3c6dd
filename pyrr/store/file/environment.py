"""pyrr's settings from the environment, compatible with the calico/routereflector container.

The same `docker run -e ...` line that started calico/routereflector (BIRD 1.6 + confd) starts
pyrr: `IP`, `IP6`, `DATASTORE_TYPE`, `ETCD_ENDPOINTS`, `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`,
`ETCD_KEY_FILE`, `ETCD_USERNAME`, `ETCD_PASSWORD` and `BGP_LOGSEVERITYSCREEN` mean what they
meant there. pyrr adds `NODENAME` (calico-node's: pyrr is that Calico Node), `CLUSTER_ID`,
`PYRR_PORT`, `PYRR_AS`, `PYRR_RR_CLUSTER`, `PYRR_LABELS`, `PYRR_CONTROL_SOCKET`,
`PYRR_BGP_PASSWORD`, `PYRR_BGP_PASSWORD_FILE`, `PYRR_SECRETS_DIR`, `PYRR_ADD_PATH_SEND` and
`PYRR_BMP_STATIONS` (see
VARIABLES; pyrr's own ones are parsed in pyrr.store.file.calico_env).

A variable set to the empty string (or only blanks) counts as unset, as envconfig treats it.
Every problem is one `ConfigError(<VARIABLE>, "<what is wrong and what is expected>")`; values
that are secrets (ETCD_PASSWORD, PYRR_BGP_PASSWORD and the file's content) never appear in a
message.

This module reads and checks the variables (`from_environment` -> `EnvSettings`). The variables
a command-line option can also set (BGP_LOGSEVERITYSCREEN, CLUSTER_ID, PYRR_PORT,
PYRR_CONTROL_SOCKET) are parsed in pyrr.store.file.text_values, which the option checks share;
`merge`, which combines the file, the environment and the command line, is in
pyrr.store.file.merge.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit

from ...config import BmpStation
from ..etcd.endpoints import EtcdEndpoint
from ..limits import (
    ASN_RANGE,
    MAX_PORT,
    asdot,
    clip,
    is_unicast,
    valid_asn,
    valid_port,
)
from .calico_env import (
    parse_add_path_send,
    parse_bgp_password,
    parse_bmp_stations,
    parse_labels,
    parse_node_name,
    parse_secrets_dir,
)
from .host_address import autodetect_ipv4
from .text_values import (
    DECIMAL,
    fail,
    parse_cluster_id,
    parse_control_socket,
    parse_log_level,
    parse_port,
)

__all__ = [
    "CALICO_DEFAULT_AS",
    "VARIABLES",
    "EnvSettings",
    "from_environment",
]

# libcalico-go / confd: the AS of a Calico cluster whose BGPConfiguration sets none.
CALICO_DEFAULT_AS: Final = 64512

VARIABLES: Final = {
    "IP": "IPv4 router id, source and listen address; 'autodetect' looks one up (with"
    " NODENAME: default the Node's spec.bgp.ipv4Address)",
    "IP6": "IPv6 source and listen address; empty = no IPv6 sessions (with NODENAME: default"
    " the Node's spec.bgp.ipv6Address)",
    "NODENAME": "the name of pyrr's own Calico Node: its addresses, labels, cluster id and AS"
    " are pyrr's, and it peers as calico-node would (create it with `pyrr init-node`)",
    "DATASTORE_TYPE": "etcdv3 (the default; kubernetes is not supported yet)",
    "ETCD_ENDPOINTS": "comma list of http(s)://host:port; set = read Calico's etcd",
    "ETCD_CA_CERT_FILE": "PEM CA bundle for https endpoints (default: the system CAs)",
    "ETCD_CERT_FILE": "PEM client certificate (needs ETCD_KEY_FILE)",
    "ETCD_KEY_FILE": "PEM client key, unencrypted (needs ETCD_CERT_FILE)",
    "ETCD_USERNAME": "etcd user (needs ETCD_PASSWORD)",
    "ETCD_PASSWORD": "etcd password (needs ETCD_USERNAME)",
    "BGP_LOGSEVERITYSCREEN": "debug, info, warning, error, fatal or none",
    "CLUSTER_ID": "RFC 4456 cluster id: dotted quad or integer (default: the router id)",
    "PYRR_PORT": "BGP listen port (default 179)",
    "PYRR_AS": f"local AS when the datastore sets none (default {CALICO_DEFAULT_AS})",
    "PYRR_RR_CLUSTER": "true/false: register in etcd and mesh with the other pyrr instances"
    " (default: true when CLUSTER_ID is set and ETCD_ENDPOINTS is)",
    "PYRR_LABELS": "k=v,k2=v2: pyrr's labels for BGPPeer nodeSelector/peerSelector when"
    " NODENAME is not set (with NODENAME: the Node's labels)",
    "PYRR_CONTROL_SOCKET": "path of the control socket",
    "PYRR_BGP_PASSWORD": "TCP MD5 key (RFC 2385) for the sessions from Calico's datastore whose"
    " BGPPeer names no secret, or whose secret is not mounted",
    "PYRR_BGP_PASSWORD_FILE": "file holding that key; one trailing newline is ignored",
    "PYRR_SECRETS_DIR": "where BGPPeer password secrets are mounted, <dir>/<secret>/<key>"
    " (default /etc/pyrr/secrets)",
    "PYRR_ADD_PATH_SEND": "paths per prefix sent to peers that negotiated ADD-PATH receive"
    " (RFC 7911), 1 to 64 (default 1: the best path)",
    "PYRR_BMP_STATIONS": "BMP monitoring stations pyrr connects to (RFC 7854),"
    " ADDRESS:PORT[,ADDRESS:PORT...]; replaces the file's [[bmp]] stations",
}

_TRUE: Final = frozenset({"true", "yes", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "0", "off"})
# A DNS name: dot-separated labels of letters, digits and inner hyphens (RFC 1123).
_HOSTNAME: Final = re.compile(
    r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?\Z",
    re.ASCII,
)

_IP_EXPECT: Final = "an IPv4 address like 192.168.56.104, or autodetect"
_Address = TypeVar("_Address", IPv4Address, IPv6Address)


@dataclass(frozen=True, slots=True)
class EnvSettings:
    """What the environment says. None means "not set" wherever a default lives elsewhere."""

    ip: IPv4Address | None = None
    ip6: IPv6Address | None = None
    datastore_type: str = "etcdv3"
    etcd_endpoints: tuple[EtcdEndpoint, ...] = ()
    etcd_ca_cert_file: str | None = None
    etcd_cert_file: str | None = None
    etcd_key_file: str | None = None
    etcd_username: str | None = None
    etcd_password: str | None = field(default=None, repr=False)
    log_level: str | None = None
    cluster_id: IPv4Address | None = None
    port: int | None = None
    fallback_as: int = CALICO_DEFAULT_AS
    rr_cluster: bool = False
    labels: Mapping[str, str] | None = field(default=None, hash=False)
    control_socket: str | None = None
    # The RFC 2385 key for the peers from Calico's datastore (PYRR_BGP_PASSWORD[_FILE]).
    bgp_password: str | None = field(default=None, repr=False)
    node_name: str | None = None  # NODENAME
    secrets_dir: str | None = None  # PYRR_SECRETS_DIR
    add_path_send: int | None = None  # PYRR_ADD_PATH_SEND
    bmp_stations: tuple[BmpStation, ...] | None = None  # PYRR_BMP_STATIONS
    # Settings that are odd but harmless (say, TLS files with only http:// endpoints).
    warnings: tuple[str, ...] = ()

    @property
    def etcd_mode(self) -> bool:
        """True iff ETCD_ENDPOINTS is set: peers come from Calico's datastore."""
        return bool(self.etcd_endpoints)


# --- public API -------------------------------------------------------------------------------


def from_environment(
    env: Mapping[str, str],
    *,
    autodetect: Callable[[], IPv4Address | None] | None = None,
) -> EnvSettings:
    """Read and validate pyrr's environment variables; any problem is a ConfigError.

    `autodetect` finds this host's IPv4 address for IP=autodetect; the default picks it as
    calico-node would, by the IP_AUTODETECTION_METHOD in `env`
    (pyrr.store.file.host_address.autodetect_ipv4).
    """
    if autodetect is None:

        def autodetect() -> IPv4Address | None:
            return autodetect_ipv4(env)

    datastore = _datastore_type(_get(env, "DATASTORE_TYPE"))
    endpoints = _endpoints(_get(env, "ETCD_ENDPOINTS"))
    etcd_mode = bool(endpoints)
    if not etcd_mode:
        _no_etcd_settings(env, explicit_datastore=_get(env, "DATASTORE_TYPE") is not None)
    warnings: list[str] = []

    ca_file, cert_file, key_file = _tls_files(env, endpoints, warnings)
    username, password = _credentials(env, endpoints, warnings)
    node_name = parse_node_name(_get(env, "NODENAME"), etcd_mode)
    # With NODENAME the Node's address is the default: IP is needed only without one.
    ip = _ip(_get(env, "IP"), etcd_mode and node_name is None, autodetect)
    ip6 = _ip6(_get(env, "IP6"))
    cluster_id = parse_cluster_id(_get(env, "CLUSTER_ID"))
    # With NODENAME the Nodes peer the reflectors; the v0.6 registration is opt-in then.
    rr_cluster = _rr_cluster(
        _get(env, "PYRR_RR_CLUSTER"), etcd_mode, cluster_id if node_name is None else None
    )
    labels = parse_labels(_get(env, "PYRR_LABELS"))
    if node_name is not None and labels is not None:
        warnings.append("PYRR_LABELS is not used with NODENAME: pyrr's Node's labels are")
    return EnvSettings(
        ip=ip,
        ip6=ip6,
        datastore_type=datastore,
        etcd_endpoints=endpoints,
        etcd_ca_cert_file=ca_file,
        etcd_cert_file=cert_file,
        etcd_key_file=key_file,
        etcd_username=username,
        etcd_password=password,
        log_level=parse_log_level(_get(env, "BGP_LOGSEVERITYSCREEN")),
        cluster_id=cluster_id,
        port=parse_port(_get(env, "PYRR_PORT")),
        fallback_as=_asn(_get(env, "PYRR_AS")),
        rr_cluster=rr_cluster,
        labels=labels,
        control_socket=parse_control_socket(env.get("PYRR_CONTROL_SOCKET", "")),
        bgp_password=parse_bgp_password(env, etcd_mode),
        node_name=node_name,
        secrets_dir=parse_secrets_dir(_get(env, "PYRR_SECRETS_DIR")),
        add_path_send=parse_add_path_send(_get(env, "PYRR_ADD_PATH_SEND")),
        bmp_stations=parse_bmp_stations(_get(env, "PYRR_BMP_STATIONS")),
        warnings=tuple(warnings),
    )


# --- the variables ----------------------------------------------------------------------------


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _datastore_type(value: str | None) -> str:
    if value is None:
        return "etcdv3"
    kind = value.lower()
    if kind == "etcdv3":
        return kind
    if kind == "kubernetes":
        fail(
            "DATASTORE_TYPE",
            "kubernetes is not supported yet: pyrr reads Calico's etcdv3 datastore; set"
            " DATASTORE_TYPE=etcdv3 (or leave it unset) and ETCD_ENDPOINTS",
        )
    fail("DATASTORE_TYPE", f"must be etcdv3, got {clip(value)}")


def _no_etcd_settings(env: Mapping[str, str], *, explicit_datastore: bool) -> None:
    """Without ETCD_ENDPOINTS, settings that only make sense with etcd are a contradiction."""
    for name in ("ETCD_CA_CERT_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE", "ETCD_USERNAME"):
        if _get(env, name) is not None:
            fail(
                "ETCD_ENDPOINTS",
                f"not set, but {name} is: set ETCD_ENDPOINTS=https://<host>:2379 to read"
                f" Calico's datastore, or unset {name}",
            )
    if explicit_datastore:
        fail(
            "ETCD_ENDPOINTS",
            "not set, but DATASTORE_TYPE=etcdv3 is: set ETCD_ENDPOINTS=https://<host>:2379"
            " (no etcd endpoints specified)",
        )


def _endpoints(value: str | None) -> tuple[EtcdEndpoint, ...]:
    if value is None:
        return ()
    endpoints: list[EtcdEndpoint] = []
    for index, raw in enumerate(value.split(",")):
        item = raw.strip()
        if not item:
            continue  # "a, b," : a trailing or doubled comma is harmless
        endpoint = _endpoint(item, index)
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    if not endpoints:
        fail("ETCD_ENDPOINTS", "has no endpoints: expected https://<host>:2379[,...]")
    return tuple(endpoints)


def _endpoint(item: str, index: int) -> EtcdEndpoint:
    where = f"endpoint {index + 1} ({clip(item)})"
    example = "like https://192.168.56.101:2379"
    if "://" not in item:
        fail("ETCD_ENDPOINTS", f"{where} needs a scheme: write it {example}")
    try:
        parts = urlsplit(item)
        port = parts.port
    except ValueError as err:
        fail("ETCD_ENDPOINTS", f"{where} is not a valid URL ({err}): write it {example}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        fail("ETCD_ENDPOINTS", f"{where} must use http:// or https://, not {scheme}://")
    if parts.username is not None or parts.password is not None:
        fail(
            "ETCD_ENDPOINTS",
            f"{where} carries credentials; use ETCD_USERNAME and ETCD_PASSWORD instead",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        fail("ETCD_ENDPOINTS", f"{where} must be only scheme://host:port, {example}")
    host = parts.hostname or ""
    if not host:
        fail("ETCD_ENDPOINTS", f"{where} has no host: write it {example}")
    if not _valid_host(host):
        fail("ETCD_ENDPOINTS", f"{where} has an invalid host {host!r}: write it {example}")
    if port is None:
        fail("ETCD_ENDPOINTS", f"{where} has no port: write it {example}")
    if not valid_port(port):
        fail("ETCD_ENDPOINTS", f"{where} has port {port}, expected 1 to {MAX_PORT}")
    return EtcdEndpoint(scheme=scheme, host=host, port=port)


def _valid_host(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return bool(_HOSTNAME.match(host)) and not host.replace(".", "").isdigit()
    return True


def _tls_files(
    env: Mapping[str, str], endpoints: Sequence[EtcdEndpoint], warnings: list[str]
) -> tuple[str | None, str | None, str | None]:
    ca = _get(env, "ETCD_CA_CERT_FILE")
    cert = _get(env, "ETCD_CERT_FILE")
    key = _get(env, "ETCD_KEY_FILE")
    if cert is not None and key is None:
        fail("ETCD_KEY_FILE", "not set, but ETCD_CERT_FILE is: a client certificate needs its key")
    if key is not None and cert is None:
        fail("ETCD_CERT_FILE", "not set, but ETCD_KEY_FILE is: a client key needs its certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is not None:
        _pem("ETCD_CA_CERT_FILE", ca, b"-----BEGIN CERTIFICATE-----", "certificate")
        try:
            context.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError, ValueError) as err:
            fail("ETCD_CA_CERT_FILE", f"{ca!r} could not be loaded as CA certificates: {err}")
    if cert is not None and key is not None:
        _pem("ETCD_CERT_FILE", cert, b"-----BEGIN CERTIFICATE-----", "certificate")
        key_text = _pem("ETCD_KEY_FILE", key, b"PRIVATE KEY-----", "private key")
        if b"ENCRYPTED" in key_text:
            fail(
                "ETCD_KEY_FILE",
                f"{key!r} is an encrypted private key; pyrr needs it unencrypted (as etcd's"
                " clients do)",
            )
        try:
            context.load_cert_chain(cert, key, password=lambda: b"")
        except (ssl.SSLError, OSError, ValueError) as err:
            fail(
                "ETCD_KEY_FILE",
                f"{key!r} does not load with ETCD_CERT_FILE {cert!r} (a key of another"
                f" certificate?): {err}",
            )
    if endpoints and (ca or cert) and not any(e.tls for e in endpoints):
        warnings.append(
            "ETCD_CA_CERT_FILE/ETCD_CERT_FILE are set but every ETCD_ENDPOINTS entry is"
            " http://, so they are not used; write https:// to use TLS"
        )
    return ca, cert, key


def _pem(name: str, path: str, marker: bytes, what: str) -> bytes:
    try:
        if "\0" in path:
            raise ValueError("the path contains a NUL character")
        target = Path(path)
        if target.is_dir():
            fail(name, f"{path!r} is a directory; expected a PEM {what} file")
        data = target.read_bytes()
    except OSError as err:
        fail(name, f"cannot read {path!r}: {err.strerror or err}")
    except ValueError as err:
        fail(name, f"cannot read {path!r}: {err}")
    if marker not in data:
        fail(name, f"{path!r} is not a PEM {what} (no {marker.decode()!r} line)")
    return data


def _credentials(
    env: Mapping[str, str], endpoints: Sequence[EtcdEndpoint], warnings: list[str]
) -> tuple[str | None, str | None]:
    username = _get(env, "ETCD_USERNAME")
    # A password is taken as written: leading or trailing blanks may be part of it.
    password = env.get("ETCD_PASSWORD") or None
    if username is not None and password is None:
        fail("ETCD_PASSWORD", "not set, but ETCD_USERNAME is: set both or neither")
    if password is not None and username is None:
        fail("ETCD_USERNAME", "not set, but ETCD_PASSWORD is: set both or neither")
    if password is not None and not endpoints:
        fail("ETCD_ENDPOINTS", "not set, but ETCD_PASSWORD is: set ETCD_ENDPOINTS too")
    if username is not None and any(not e.tls for e in endpoints):
        warnings.append(
            "ETCD_USERNAME/ETCD_PASSWORD are sent in clear text to the http:// endpoints"
        )
    return username, password


def _ip(
    value: str | None, etcd_mode: bool, autodetect: Callable[[], IPv4Address | None]
) -> IPv4Address | None:
    if value is None:
        if etcd_mode:
            fail(
                "IP",
                "not set: with ETCD_ENDPOINTS pyrr needs this host's IPv4 address (router id,"
                " source and listen address), e.g. IP=192.168.56.104 or IP=autodetect, or"
                " NODENAME=<its Calico Node> to take the Node's",
            )
        return None
    word = value.lower()
    if word == "autodetect":
        found = autodetect()
        if found is None:
            fail(
                "IP",
                "is autodetect, but no usable IPv4 address was found on this host's interfaces;"
                " set IP=<address>",
            )
        return found
    if word == "none":
        if etcd_mode:
            fail("IP", "is none, but a route reflector needs an IPv4 router id: " + _IP_EXPECT)
        return None
    return _host_address("IP", value, _IP_EXPECT, IPv4Address)


def _ip6(value: str | None) -> IPv6Address | None:
    if value is None or value.lower() == "none":
        return None
    if value.lower() == "autodetect":
        fail("IP6", "autodetect is not supported for IP6: give the address, e.g. IP6=fd00::104")
    address = _host_address("IP6", value, "an IPv6 address like fd00::104, or empty", IPv6Address)
    if address.scope_id is not None or address.is_link_local:
        fail("IP6", f"must be a global or unique-local IPv6 address, not link-local ({value})")
    return address


def _host_address(name: str, value: str, expect: str, family: type[_Address]) -> _Address:
    """IP's or IP6's value: a unicast address of the variable's family (this host's)."""
    version, other = (4, "IP6") if family is IPv4Address else (6, "IP")
    if "/" in value:
        fail(name, f"must be an address without a prefix length, got {clip(value)}")
    try:
        address = ip_address(value)
    except ValueError:
        fail(name, f"must be {expect}, got {clip(value)}")
    if not isinstance(address, family):
        fail(
            name,
            f"is an IPv{address.version} address ({value}); {name} takes the IPv{version}"
            f" address, {other} the IPv{address.version} one",
        )
    if not is_unicast(address):
        fail(name, f"must be a unicast IPv{version} address of this host, got {value}")
    return address


def _asn(value: str | None) -> int:
    if value is None:
        return CALICO_DEFAULT_AS
    number = int(value) if DECIMAL.match(value) else asdot(value)
    if number is None or not valid_asn(number):
        fail("PYRR_AS", f"must be {ASN_RANGE} (or asdot like 1.10), got {clip(value)}")
    return number


def _rr_cluster(value: str | None, etcd_mode: bool, cluster_id: IPv4Address | None) -> bool:
    if value is None:
        # Registration and the RR mesh live in etcd: without it, CLUSTER_ID alone (a file
        # configuration's cluster id override) does not turn them on.
        return cluster_id is not None and etcd_mode
    word = value.lower()
    if word in _FALSE:
        return False
    if word not in _TRUE:
        fail("PYRR_RR_CLUSTER", f"must be true or false, got {clip(value)}")
    if not etcd_mode:
        fail(
            "PYRR_RR_CLUSTER",
            "is true, but ETCD_ENDPOINTS is not set: pyrr instances find each other through"
            " etcd; set ETCD_ENDPOINTS or PYRR_RR_CLUSTER=false",
        )
    return True
