"""The static TOML store: defaults, every key, every error's field path and wording, fuzzing."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from importlib.resources import files
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrr.bgp.constants import BGP_PORT, DEFAULT_HOLD_TIME
from pyrr.config import (
    Config,
    ConfigError,
    ControlConfig,
    GlobalConfig,
    PeerConfig,
)
from pyrr.store.file.toml_config import (
    BGP_KEYS,
    CALICO_KEYS,
    CONTROL_KEYS,
    PEER_KEYS,
    TOP_KEYS,
    load_file,
    load_text,
)
from pyrr.store.file.toml_filters import FILTER_KEYS
from pyrr.store.file.toml_monitor import BMP_KEYS, MRT_KEYS
from pyrr.store.limits import parse_host_port
from tests.ops.fake_netlink import break_netlink, fake_host

ENV = {"IP": "198.18.0.9"}  # keeps tests off the host's real addresses
RID = IPv4Address("198.18.0.9")
DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def doc(bgp: str = "", *peers: str, top: str = "") -> str:
    """A document with [bgp] asn = 61234 plus the given lines; one [[peer]] per entry."""
    text = f"{top}\n[bgp]\nasn = 61234\n{bgp}\n"
    for peer in peers:
        text += f"[[peer]]\n{peer}\n"
    return text


def peer(extra: str = "", address: str = "198.18.0.101") -> str:
    return f'address = "{address}"\n{extra}'


def fail(text: str, env: Mapping[str, str] = ENV) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(text, env=env)
    return info.value


# --- valid documents --------------------------------------------------------------------------


def test_minimal_config_takes_every_default() -> None:
    config = load_text(doc(), env=ENV)
    assert config == Config(
        bgp=GlobalConfig(asn=61234, router_id=RID, cluster_id=RID), peers=(), log_level="info"
    )
    assert config.bgp.listen == ()
    assert config.bgp.port == BGP_PORT
    assert config.bgp.restart_time == 120
    assert config.bgp.connect_retry == 5


def test_minimal_peer_takes_every_default() -> None:
    (only,) = load_text(doc("", peer()), env=ENV).peers
    assert only == PeerConfig(address=IPv4Address("198.18.0.101"), asn=61234)
    assert only.client is True
    assert only.passive is False
    assert only.hold_time == DEFAULT_HOLD_TIME
    assert only.port == BGP_PORT
    assert only.local_address is None
    assert only.description == ""
    assert only.kind == "client"
    assert only.password is None
    assert only.ttl_security == 0
    assert only.max_prefixes == 0
    assert only.max_prefixes_action == "cease"


FULL = """
log_level = "debug"

[bgp]
asn = 61234
router_id = "198.18.0.104"
cluster_id = "198.18.0.1"
listen = ["198.18.0.104", "2001:db8::104"]
port = 1179
restart_time = 90
connect_retry = 10

[[peer]]
address = "198.18.0.101"
asn = 64999
client = false
passive = true
hold_time = 90
port = 1790
local_address = "198.18.0.104"
description = "node1 (rack 3)"
password = "s3cret"
ttl_security = 1
max_prefixes = 1000
max_prefixes_action = "warn"

[[peer]]
address = "2001:db8::102"
local_address = "2001:db8::104"
hold_time = 0

[control]
socket = "/run/pyrr/rr1.sock"
metrics = "[::1]:9179"
"""


def test_every_key_is_accepted() -> None:
    config = load_text(FULL, env={})
    assert config == Config(
        bgp=GlobalConfig(
            asn=61234,
            router_id=IPv4Address("198.18.0.104"),
            cluster_id=IPv4Address("198.18.0.1"),
            listen=(IPv4Address("198.18.0.104"), IPv6Address("2001:db8::104")),
            port=1179,
            restart_time=90,
            connect_retry=10,
        ),
        peers=(
            PeerConfig(
                address=IPv4Address("198.18.0.101"),
                asn=64999,
                client=False,
                passive=True,
                hold_time=90,
                port=1790,
                local_address=IPv4Address("198.18.0.104"),
                description="node1 (rack 3)",
                kind="non-client",
                password="s3cret",
                ttl_security=1,
                max_prefixes=1000,
                max_prefixes_action="warn",
            ),
            PeerConfig(
                address=IPv6Address("2001:db8::102"),
                asn=61234,
                hold_time=0,
                local_address=IPv6Address("2001:db8::104"),
            ),
        ),
        log_level="debug",
        control=ControlConfig(socket="/run/pyrr/rr1.sock", metrics="[::1]:9179"),
    )


@pytest.mark.parametrize(
    ("written", "level"),
    [("debug", "debug"), ("info", "info"), ("warning", "warning"), ("warn", "warning"),
     ("error", "error"), ("WARN", "warning"), ("Info", "info")],
)  # fmt: skip
def test_log_levels(written: str, level: str) -> None:
    assert load_text(doc(top=f'log_level = "{written}"'), env=ENV).log_level == level


@pytest.mark.parametrize(
    ("written", "expected"),
    [("1", "0.0.0.1"), ("4294967295", "255.255.255.255"), ("0", "0.0.0.0"),
     ('"10.0.0.1"', "10.0.0.1")],
)  # fmt: skip
def test_cluster_id_is_a_dotted_quad_or_a_32_bit_integer(written: str, expected: str) -> None:
    config = load_text(doc(f"cluster_id = {written}"), env=ENV)
    assert config.bgp.cluster_id == IPv4Address(expected)
    assert config.bgp.router_id == RID


def test_router_id_comes_from_the_ip_environment_variable() -> None:
    config = load_text(doc(), env={"IP": "198.18.0.9"})
    assert config.bgp.router_id == IPv4Address("198.18.0.9")
    assert config.bgp.cluster_id == IPv4Address("198.18.0.9")


def test_explicit_router_id_beats_the_environment() -> None:
    config = load_text(doc('router_id = "198.18.0.50"'), env={"IP": "bogus"})
    assert config.bgp.router_id == IPv4Address("198.18.0.50")


def test_env_none_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IP", "198.18.0.77")
    assert load_text(doc()).bgp.router_id == IPv4Address("198.18.0.77")


def test_zero_peers_is_valid_both_ways() -> None:
    assert load_text(doc(), env=ENV).peers == ()
    assert load_text("peer = []\n" + doc(), env=ENV).peers == ()


def test_ebgp_peer_is_allowed_and_asn_defaults_to_local() -> None:
    config = load_text(doc("", peer("asn = 65001"), peer(address="198.18.0.102")), env=ENV)
    assert [p.asn for p in config.peers] == [65001, 61234]


@pytest.mark.parametrize("hold_time", [0, 3, 65535])
def test_hold_time_boundaries_accepted(hold_time: int) -> None:
    (only,) = load_text(doc("", peer(f"hold_time = {hold_time}")), env=ENV).peers
    assert only.hold_time == hold_time


def test_client_false_is_a_non_client() -> None:
    (only,) = load_text(doc("", peer("client = false")), env=ENV).peers
    assert (only.client, only.kind) == (False, "non-client")


@pytest.mark.parametrize(
    ("written", "action"), [('"cease"', "cease"), ('"warn"', "warn"), ('" WARN "', "warn")]
)
def test_max_prefixes_action(written: str, action: str) -> None:
    text = doc("", peer(f"max_prefixes = 10\nmax_prefixes_action = {written}"))
    (only,) = load_text(text, env=ENV).peers
    assert (only.max_prefixes, only.max_prefixes_action) == (10, action)


def test_password_of_80_bytes_is_accepted() -> None:
    (only,) = load_text(doc("", peer(f'password = "{"k" * 80}"')), env=ENV).peers
    assert only.password == "k" * 80


def test_password_never_shows_in_a_repr() -> None:
    (only,) = load_text(doc("", peer('password = "s3cret"')), env=ENV).peers
    assert only.password == "s3cret"
    assert "s3cret" not in repr(only)
    assert only != replace(only, password="other")  # a changed key still restarts the peer


def test_byte_order_mark_is_tolerated() -> None:
    assert load_text("\ufeff" + doc(), env=ENV).bgp.asn == 61234


def test_ipv6_listen_and_peer() -> None:
    config = load_text(doc('listen = ["::"]', peer(address="fd00::1")), env=ENV)
    assert config.bgp.listen == (IPv6Address("::"),)
    assert config.peers[0].address == IPv6Address("fd00::1")
    assert config.peer("fd00::1") is config.peers[0]


def test_demo_config_loads() -> None:
    demo = files("pyrr") / "data" / "demo.toml"
    config = load_text(demo.read_text(encoding="utf-8"), source="demo.toml", env={})
    assert config.bgp.router_id == IPv4Address("127.0.0.1")
    assert config.bgp.listen == (IPv4Address("127.0.0.1"),)
    assert config.bgp.port > 1024  # no root needed
    assert [str(p.address) for p in config.peers] == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    assert [p.description for p in config.peers] == ["node1", "node2", "node3"]
    assert all(p.passive and p.client and p.asn == config.bgp.asn for p in config.peers)


def test_docs_mention_every_key() -> None:
    text = DOCS.read_text(encoding="utf-8")
    keys = (*TOP_KEYS, *BGP_KEYS, *PEER_KEYS, *CONTROL_KEYS, *CALICO_KEYS, *FILTER_KEYS)
    for key in (*keys, *BMP_KEYS, *MRT_KEYS):
        assert f"| `{key}` |" in text, key


def test_docs_examples_load() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        load_text(block, source="docs/configuration.md", env={})


def test_docs_quote_the_real_error_messages() -> None:
    # Each documented error line is `field: message`; the loader must say exactly that.
    quoted = re.findall(r"^- `([^`]+: [^`]+)`", DOCS.read_text(encoding="utf-8"), re.MULTILINE)
    produced = {str(fail(text)) for text in DOCUMENTED_ERRORS}
    produced |= {str(fail(doc(), env=env)) for env in ({"IP": "none"}, {"IP": "x"})}
    assert len(quoted) > 30
    for line in quoted:
        assert line in produced, line


D = "[bgp]\nasn = 61234\n"
P = '[[peer]]\naddress = "198.18.0.101"\n'
B = '[[bmp]]\naddress = "198.18.0.50"\n'
M = '[mrt]\ndirectory = "/var/lib/pyrr/mrt"\n'
DOCUMENTED_ERRORS = [
    'log_level = "verbose"\n' + D, "", "[[bgp]]\nasn = 1", D + '[peer]\naddress = "1.1.1.1"',
    "peer = [1]\n" + D, "[bgp]\n", "[bgp]\nasn = 0", '[bgp]\nasn = "64512"',
    D + 'router_id = "2001:db8::1"', D + 'cluster_id = "x"', D + 'listen = "198.18.0.104"',
    D + 'listen = ["::", "nope"]', D + 'listen = ["224.0.0.1"]', D + 'listen = ["::1", "::1"]',
    D + "port = 0", D + "restart_time = 5000", D + "connect_retry = 0",
    D + "[[peer]]\nasn = 1", D + P + P.replace("101", "102") + P,
    D + '[[peer]]\naddress = "node1"', D + P + "asn = 0", D + P + 'client = "yes"',
    D + P + "passive = 1", D + P + P.replace("101", "102") + "hold_time = 2",
    D + P + "port = 70000", D + P + 'local_address = "2001:db8::1"', D + P + "description = 1",
    D + P + f'password = "{"k" * 81}"', D + P + "ttl_security = 255",
    D + P + "max_prefixes = -1", D + P + 'max_prefixes_action = "drop"', D + P + "holdtime = 1",
    D + "[[control]]\n", D + '[control]\nsocket = "pyrr.sock"',
    D + f'[control]\nsocket = "/{"s" * 120}"', D + '[control]\nmetrics = "localhost:9179"',
    D + '[control]\nmetric = ""',
    D + "add_path_send = 0", D + P + "local_asn = 0", D + P + "keepalive_time = 0",
    D + P + "keepalive_time = 240", D + P + "hold_time = 0\nkeepalive_time = 10",
    D + P + "restart_time = 4096", D + P + 'next_hop = "peer"', D + P + 'filters = ["x"]',
    D + P + 'filters = "x"', '[[filter]]\nexportV4 = []\n' + D,
    '[[filter]]\nname = "a"\n[[filter]]\nname = "a"\n' + D,
    '[[filter]]\nname = "a"\nexport_v4 = []\n' + D,
    '[[filter]]\nname = "a"\nexportV4 = [{ action = "Accept", cidr = "10.0.0.0/8" }]\n' + D,
    '[[filter]]\nname = "a"\nexportV4 = [{ action = "Drop" }]\n' + D,
    '[[filter]]\nname = "a"\nexportV4 = [{ action = "Accept", matchoperator = "In" }]\n' + D,
    '[filter]\nname = "a"\n' + D, '[calico]\nsecrets_dir = "secrets"\n' + D,
    D + '[bmp]\naddress = "198.18.0.50"', D + "[[bmp]]\nport = 11019",
    D + '[[bmp]]\naddress = "collector"', D + B + B, D + B + "port = 0",
    D + B + "stats_interval = -1", D + B + "queue_limit = 1000", D + B + 'loc_rib = "yes"',
    D + '[[mrt]]\ndirectory = "/x"', D + "[mrt]\nupdates = true", D + '[mrt]\ndirectory = "mrt"',
    D + M + "dump_interval = 100000", D + M + 'dump_name = "a/b.mrt"',
    D + M + "updates_interval = 10", D + M + "updates_max_bytes = 1000", D + M + "keep = -1",
    D + M + 'dump_name = "%Y.mrt"\nupdates_name = "%s.mrt"', D + M + "update = true",
]  # fmt: skip


# --- errors: field path and wording ---------------------------------------------------------

BAD_INT_TYPES = ['"1"', "true", "1.0", "[1]", "{ a = 1 }", "1979-05-27"]


@pytest.mark.parametrize(
    ("text", "field", "fragments"),
    [
        # the [bgp] table itself
        ("", "bgp", ["[bgp]", "asn"]),
        ("[[bgp]]\nasn = 1", "bgp", ["[bgp]", "[[bgp]]"]),
        ("bgp = 1", "bgp", ["[bgp]"]),
        ("[bgp]\n", "bgp.asn", ["missing", "between 1 and 4294967295", "asn = "]),
        # unknown keys, with suggestions
        (doc(top="peers = []"), "peers", ["unknown key 'peers'", "did you mean 'peer'?"]),
        (doc(top="neighbor = []"), "neighbor", ["did you mean 'peer'?"]),
        (doc('routerid = "1.2.3.4"'), "bgp.routerid", ["did you mean 'router_id'?"]),
        (doc('router-id = "1.2.3.4"'), "bgp.router-id", ["did you mean 'router_id'?"]),
        (doc("", peer("holdtime = 90")), "peer[0].holdtime",
         ["unknown key 'holdtime'; did you mean 'hold_time'?"]),
        (doc("", peer("remote_as = 1")), "peer[0].remote_as", ["did you mean 'asn'?"]),
        (doc("", peer("zzzz = 1")), "peer[0].zzzz", ["expected one of:", "hold_time"]),
        # bgp.router_id / cluster_id / listen
        (doc('router_id = "2001:db8::1"'), "bgp.router_id", ["IPv4", "'2001:db8::1'"]),
        (doc('router_id = "node1"'), "bgp.router_id", ["IPv4", "198.18.0.104"]),
        (doc("router_id = 1"), "bgp.router_id", ["IPv4", "got 1"]),
        (doc('router_id = "0.0.0.0"'), "bgp.router_id", ["non-zero", "RFC 6286"]),
        (doc('cluster_id = "x"'), "bgp.cluster_id", ["IPv4 address", "integer between 0 and"]),
        (doc("cluster_id = -1"), "bgp.cluster_id", ["integer between 0 and 4294967295"]),
        (doc("cluster_id = 4294967296"), "bgp.cluster_id", ["integer between 0 and 4294967295"]),
        (doc("cluster_id = true"), "bgp.cluster_id", ["(a boolean)"]),
        (doc('cluster_id = "::1"'), "bgp.cluster_id", ["IPv4 address"]),
        (doc('listen = "198.18.0.1"'), "bgp.listen", ["array of IP addresses", "(a string)"]),
        (doc('listen = ["198.18.0.1", "nope"]'), "bgp.listen[1]", ["IPv4 or IPv6 address"]),
        (doc("listen = [1]"), "bgp.listen[0]", ["IPv4 or IPv6 address"]),
        (doc('listen = ["::1", "0::1"]'), "bgp.listen[1]", ["duplicate of bgp.listen[0]"]),
        (doc('listen = ["224.0.0.1"]'), "bgp.listen[0]", ["unicast"]),
        # bgp integers
        (doc("port = 0"), "bgp.port", ["between 1 and 65535", "got 0"]),
        (doc("port = 65536"), "bgp.port", ["between 1 and 65535"]),
        (doc('port = "179"'), "bgp.port", ["between 1 and 65535", "without quotes"]),
        (doc("restart_time = 4096"), "bgp.restart_time", ["between 0 and 4095", "RFC 4724"]),
        (doc("restart_time = -1"), "bgp.restart_time", ["between 0 and 4095"]),
        (doc("connect_retry = 0"), "bgp.connect_retry", ["between 1 and"]),
        # log_level
        (doc(top='log_level = "verbose"'), "log_level", ['"debug"', '"warn"', "'verbose'"]),
        (doc(top="log_level = 1"), "log_level", ['"info"']),
        # the peer list
        (doc() + '[peer]\naddress = "198.18.0.1"', "peer", ["[[peer]]", "[peer]"]),
        ("peer = [1]\n" + doc(), "peer[0]", ["[[peer]]", "got 1"]),
        ('peer = "x"\n' + doc(), "peer", ["[[peer]]"]),
        # peer.address
        (doc("", "asn = 1"), "peer[0].address", ["missing", "address = "]),
        (doc("", peer(address="node1")), "peer[0].address", ["IPv4 or IPv6", "'node1'"]),
        (doc("", "address = 42"), "peer[0].address", ["IPv4 or IPv6", "got 42"]),
        (doc("", peer(address="0.0.0.0")), "peer[0].address", ["unicast"]),
        (doc("", peer(address="::")), "peer[0].address", ["unicast"]),
        (doc("", peer(address="224.0.0.5")), "peer[0].address", ["unicast"]),
        (doc("", peer(address="255.255.255.255")), "peer[0].address", ["unicast"]),
        (doc("", peer(), peer(address="198.18.0.102"), peer()), "peer[2].address",
         ["duplicate of peer[0].address", "198.18.0.101"]),
        (doc("", peer(address="2001:db8::1"), peer(address="2001:DB8:0::1")), "peer[1].address",
         ["duplicate of peer[0].address"]),
        # peer integers
        (doc("", peer(), peer("hold_time = 2", "198.18.0.102")), "peer[1].hold_time",
         ["must be 0 or between 3 and 65535 seconds (RFC 4271 §4.2), got 2"]),
        (doc("", peer("hold_time = 1")), "peer[0].hold_time", ["RFC 4271 §4.2"]),
        (doc("", peer("hold_time = -1")), "peer[0].hold_time", ["0 or between 3 and 65535"]),
        (doc("", peer("hold_time = 65536")), "peer[0].hold_time", ["0 or between 3 and 65535"]),
        (doc("", peer('hold_time = "240"')), "peer[0].hold_time", ["without quotes"]),
        (doc("", peer("asn = 0")), "peer[0].asn", ["between 1 and 4294967295"]),
        (doc("", peer("asn = 4294967296")), "peer[0].asn", ["between 1 and 4294967295"]),
        (doc("", peer("port = 0")), "peer[0].port", ["between 1 and 65535"]),
        (doc("", peer("ttl_security = 255")), "peer[0].ttl_security", ["between 0 and 254"]),
        (doc("", peer("ttl_security = -1")), "peer[0].ttl_security", ["RFC 5082"]),
        (doc("", peer("max_prefixes = -1")), "peer[0].max_prefixes", [">= 0"]),
        (doc("", peer('max_prefixes = "10"')), "peer[0].max_prefixes", [">= 0", "(a string)"]),
        (doc("", peer('max_prefixes_action = "drop"')), "peer[0].max_prefixes_action",
         ['"cease"', '"warn"', "RFC 4486", "'drop'"]),
        (doc("", peer("max_prefixes_action = true")), "peer[0].max_prefixes_action",
         ['"cease"', "a boolean"]),
        (doc("", peer('max_prefixes_action = ""')), "peer[0].max_prefixes_action", ['"warn"']),
        # peer booleans and strings
        (doc("", peer('client = "yes"')), "peer[0].client", ["true or false", "'yes'"]),
        (doc("", peer('client = "true"')), "peer[0].client", ["without quotes"]),
        (doc("", peer("passive = 1")), "peer[0].passive", ["true or false", "got 1"]),
        (doc("", peer("description = 5")), "peer[0].description", ["a string"]),
        # peer.local_address
        (doc("", peer('local_address = "2001:db8::1"')), "peer[0].local_address",
         ["IPv4", "198.18.0.101"]),
        (doc("", peer('local_address = "198.18.0.1"', "2001:db8::1")), "peer[0].local_address",
         ["IPv6"]),
        (doc("", peer('local_address = "x"')), "peer[0].local_address", ["IPv4"]),
        (doc("", peer('local_address = "0.0.0.0"')), "peer[0].local_address", ["unicast"]),
        # [control]
        ("control = 1\n" + doc(), "control", ["[control]", "got 1"]),
        (doc() + '[control]\nsocket = "run/pyrr.sock"', "control.socket", ["absolute path"]),
        (doc() + "[control]\nsocket = 1", "control.socket", ["absolute path", "got 1"]),
        (doc() + '[control]\nsocket = "/a\\u0000b"', "control.socket", ["absolute path"]),
        (doc() + '[control]\nmetrics = "127.0.0.1"', "control.metrics", ["127.0.0.1:9179"]),
        (doc() + '[control]\nmetrics = "::1:9179"', "control.metrics", ["[::1]:9179"]),
        (doc() + '[control]\nmetrics = "localhost:9179"', "control.metrics", ["address"]),
        (doc() + '[control]\nmetrics = "127.0.0.1:0"', "control.metrics", ["address"]),
        (doc() + "[control]\nmetrics = 9179", "control.metrics", ["got 9179"]),
        (doc() + '[control]\nlisten = ""', "control.listen", ["expected one of"]),
        # TOML syntax
        ("[bgp]\nasn = = 1", "<config>", ["invalid TOML", "line 2"]),
        ("[bgp\n", "<config>", ["invalid TOML", "line 1"]),
        ("a = " + "[" * 5000, "<config>", ["nested too deeply"]),
        ("a = " + "1" * 5000, "<config>", ["invalid TOML"]),
        ("a = 1\ud800", "<config>", ["not valid text"]),
    ],
)  # fmt: skip
def test_error_names_the_field_and_the_expected_form(
    text: str, field: str, fragments: list[str]
) -> None:
    error = fail(text)
    assert error.field == field, error
    for fragment in fragments:
        assert fragment in error.message, (fragment, error.message)
    assert str(error) == f"{field}: {error.message}"


@pytest.mark.parametrize("key", ["asn", "port", "restart_time", "connect_retry"])
@pytest.mark.parametrize("value", BAD_INT_TYPES)
def test_bgp_integers_reject_other_types(key: str, value: str) -> None:
    text = doc(f"{key} = {value}") if key != "asn" else f"[bgp]\nasn = {value}\n"
    error = fail(text)
    assert error.field == f"bgp.{key}"
    assert "between" in error.message


@pytest.mark.parametrize("key", ["asn", "hold_time", "port", "ttl_security", "max_prefixes"])
@pytest.mark.parametrize("value", BAD_INT_TYPES)
def test_peer_integers_reject_other_types(key: str, value: str) -> None:
    assert fail(doc("", peer(f"{key} = {value}"))).field == f"peer[0].{key}"


def test_control_defaults_and_metrics_without_a_misleading_hint() -> None:
    assert load_text(doc(), env=ENV).control == ControlConfig(socket="", metrics="")
    empty = load_text(doc() + '[control]\nsocket = ""\nmetrics = ""', env=ENV)
    assert empty.control == ControlConfig()
    # "9179" is a string of digits, but dropping the quotes would not make it right.
    error = str(fail(doc() + '[control]\nmetrics = "9179"'))
    assert error.startswith("control.metrics: must be an address and port")
    assert "without quotes" not in error


def test_booleans_are_not_integers() -> None:
    error = fail("[bgp]\nasn = true\n")
    assert error.field == "bgp.asn"
    assert "got true (a boolean)" in error.message


@pytest.mark.parametrize(
    ("written", "got"),
    [('""', "an empty string"), (f'"{"k" * 81}"', "81 bytes"), (f'"{"é" * 41}"', "82 bytes"),
     ("31337", "an integer")],
)  # fmt: skip
def test_password_length_and_type_without_echoing_it(written: str, got: str) -> None:
    error = fail(doc("", peer(f"password = {written}")))
    assert error.field == "peer[0].password"
    assert error.message.endswith(f"1 to 80 bytes, got {got}")
    assert "RFC 2385" in error.message
    if written != '""':  # the key never reaches a log
        assert written.strip('"') not in error.message


def test_router_id_not_found() -> None:
    error = fail(doc(), env={"IP": "none"})
    assert error.field == "bgp.router_id"
    assert error.message == (
        "not set and no IP environment variable or IPv4 address found; "
        'set bgp.router_id = "a.b.c.d"'
    )


@pytest.mark.parametrize("value", ["bogus", "2001:db8::1", "0.0.0.0", "198.18.0.256"])
def test_bad_ip_environment_variable(value: str) -> None:
    error = fail(doc(), env={"IP": value})
    assert error.field == "bgp.router_id"
    assert "IP environment variable" in error.message
    assert "autodetect" in error.message
    assert repr(value) in error.message


# --- load_file ------------------------------------------------------------------------------


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "pyrr.toml"
    path.write_text(FULL, encoding="utf-8")
    assert load_file(path, env={}) == load_text(FULL, env={})
    assert load_file(str(path), env={}) == load_text(FULL, env={})


def test_load_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_file(path, env=ENV)
    assert info.value.field == str(path)
    assert "cannot read" in info.value.message
    assert "No such file" in info.value.message


def test_load_file_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_file(tmp_path, env=ENV)
    assert info.value.field == str(tmp_path)


def test_load_file_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: tests may run as root, who can read a mode-000 file.
    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    path = tmp_path / "secret.toml"
    path.write_text(doc(), encoding="utf-8")
    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError) as info:
        load_file(path, env=ENV)
    assert info.value.field == str(path)
    assert info.value.message == "cannot read the configuration file: Permission denied"


def test_load_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[bgp]\nasn = 1\n[[peer]]\ndescription = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_file(path, env=ENV)
    assert info.value.field == str(path)
    assert "UTF-8" in info.value.message


def test_load_file_parse_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[bgp]\nasn = 1\nport = \n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_file(path, env=ENV)
    assert info.value.field == str(path)
    assert "line 3" in info.value.message


# --- the router ID from IP, or autodetected as calico-node does it ----------------------------
# One detector for both modes (pyrr.ops.autodetect); the cases below were written for the
# file mode's own detector (store/router_id.py), which it replaced. Where the two disagreed,
# Calico's rule won, and the test says so.

MISSING = (
    'not set and no IP environment variable or IPv4 address found; set bgp.router_id = "a.b.c.d"'
)


def router_id(env: Mapping[str, str]) -> IPv4Address:
    return load_text(doc(), env=env).bgp.router_id


def test_ip_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_host(monkeypatch).add(2, "eth0", "198.18.0.5")
    assert router_id({"IP": " 198.18.0.9 "}) == IPv4Address("198.18.0.9")


def test_ip_none_means_no_address(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_host(monkeypatch).add(2, "eth0", "198.18.0.5")  # not looked up
    error = fail(doc(), env={"IP": "none"})
    assert (error.field, error.message) == ("bgp.router_id", MISSING)


@pytest.mark.parametrize("env", [{}, {"IP": ""}, {"IP": "autodetect"}, {"IP": "AUTODETECT"}])
def test_autodetect_skips_what_calico_skips(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    host = fake_host(monkeypatch)
    host.add(1, "lo", "127.0.0.1", "10.255.0.1")  # a global address on loopback: Calico skips lo
    host.add(2, "eth0", "169.254.1.1", "198.18.0.5")
    host.add(3, "eth1", "198.18.1.5")
    host.add(4, "kube-ipvs0", "10.96.0.1")  # a Service IP, the same on every node
    host.add(5, "cali1234", "192.168.3.1")
    # Calico walks the interfaces from the highest index down: eth1 before eth0. (The file
    # mode's old detector took the kernel's address order, eth0 first: Calico's rule wins.)
    assert router_id(env) == IPv4Address("198.18.1.5")
    del host.links[3]
    host.addresses.remove((3, "198.18.1.5"))
    assert router_id(env) == IPv4Address("198.18.0.5")  # eth0's link-local one passed over


def test_autodetect_is_calicos_where_the_old_file_mode_rule_differed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = fake_host(monkeypatch)
    host.add(1, "lo", "127.0.0.1")
    # 10.0.0.5 had link scope: the old detector read only global-scope addresses; calico-node
    # looks at no scope, only at Go's IsGlobalUnicast, which a private address passes.
    host.add(2, "eth0", "169.254.1.1", "10.0.0.5", "198.18.0.5")
    assert router_id({}) == IPv4Address("10.0.0.5")
    # The old detector skipped every interface whose name starts with "lo" and nodelocaldns*;
    # calico-node's DEFAULT_INTERFACES_TO_EXCLUDE skips "lo" alone and has no nodelocaldns.
    host.add(3, "loop0", "198.18.3.3")
    assert router_id({}) == IPv4Address("198.18.3.3")
    host.add(4, "nodelocaldns", "169.254.20.10", "198.18.4.4")
    assert router_id({}) == IPv4Address("198.18.4.4")


def test_autodetect_takes_calicos_method_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = fake_host(monkeypatch)
    host.add(2, "eth0", "198.18.0.5")
    host.add(3, "eth1", "198.18.1.5")
    assert router_id({"IP_AUTODETECTION_METHOD": "interface=^eth0$"}) == IPv4Address("198.18.0.5")
    assert router_id({"IP": "autodetect", "IP_AUTODETECTION_METHOD": "cidr=198.18.1.0/24"}) == (
        IPv4Address("198.18.1.5")
    )
    error = fail(doc(), env={"IP_AUTODETECTION_METHOD": "first_found"})
    assert error.field == "IP_AUTODETECTION_METHOD"
    assert "unknown IP autodetection method 'first_found'" in error.message


@pytest.mark.parametrize("env", [{}, {"IP": "autodetect"}])
def test_autodetect_finds_nothing(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    fake_host(monkeypatch).add(1, "lo", "127.0.0.1")
    error = fail(doc(), env=env)
    assert error.field == "bgp.router_id"
    assert error.message == MISSING
    assert 'set bgp.router_id = "a.b.c.d"' in error.message


def test_autodetect_survives_netlink_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    break_netlink(monkeypatch)
    error = fail(doc(), env={})
    assert (error.field, error.message) == ("bgp.router_id", MISSING)


def test_autodetect_on_this_host_does_not_raise() -> None:
    try:
        found = router_id({})
    except ConfigError as error:  # this host may have no usable address
        assert (error.field, error.message) == ("bgp.router_id", MISSING)
    else:
        assert not found.is_loopback


# --- fuzzing: only ConfigError escapes ------------------------------------------------------

ADDRESSES = ["198.18.0.1", "198.18.0.2", "0.0.0.0", "::", "2001:db8::1", "2001:DB8::1",
             "fe80::1%eth0", "224.0.0.1", "255.255.255.255", "127.0.0.1", "1.2.3", "::ffff:1.2.3.4",
             "debug", "warn", "INFO", "true", "179", ""]  # fmt: skip
INTS = [0, 1, 2, 3, 179, 240, 254, 255, 4095, 4096, 65535, 65536, 2**32 - 1, 2**32, -1]

scalars = st.one_of(
    st.sampled_from(INTS),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(ADDRESSES),
    st.datetimes().map(lambda moment: moment.replace(microsecond=0)),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


# Plausible values per key, so generated documents get past the first check and reach the
# deeper ones (peer indexes, duplicates, families); `mostly` mixes in arbitrary values.
PLAUSIBLE: dict[str, st.SearchStrategy[object]] = {
    "asn": st.sampled_from([61234, 65001, 1, 2**32 - 1]),
    "router_id": st.sampled_from(["198.18.0.104", "10.0.0.1"]),
    "cluster_id": st.sampled_from(["198.18.0.1", 7, 0]),
    "listen": st.lists(st.sampled_from(["198.18.0.104", "::", "0.0.0.0", "::1"]), max_size=3),
    "port": st.integers(1, 65535),
    "restart_time": st.integers(0, 4095),
    "connect_retry": st.integers(1, 100),
    "add_path_send": st.integers(0, 70),
    "local_asn": st.sampled_from([61234, 65001, 0]),
    "keepalive_time": st.sampled_from([0, 1, 30, 80, 240, 300]),
    "next_hop": st.sampled_from(["auto", "Self", "KEEP", "none"]),
    "filters": st.sampled_from([[], ["f1"], ["f1", "nope"], "f1"]),
    "secrets_dir": st.sampled_from(["", "/etc/pyrr/secrets", "relative"]),
    "address": st.sampled_from(["198.18.0.101", "198.18.0.102", "2001:db8::1", "2001:DB8::1"]),
    "client": st.booleans(),
    "passive": st.booleans(),
    "hold_time": st.sampled_from([0, 3, 90, 240]),
    "local_address": st.sampled_from(["198.18.0.104", "2001:db8::104"]),
    "description": st.text(max_size=20),
    "password": st.text(min_size=1, max_size=80),
    "ttl_security": st.integers(0, 254),
    "max_prefixes": st.integers(0, 10**6),
    "max_prefixes_action": st.sampled_from(["cease", "warn", "Warn", "drop"]),
    "socket": st.sampled_from(["", "/run/pyrr/pyrr.sock", "pyrr.sock", "/" + "s" * 110]),
    "metrics": st.sampled_from(["", "127.0.0.1:9179", "[::1]:9179", "::1:9179", "0.0.0.0:0"]),
}


def often(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(good, good, good, values)


def mostly(key: str) -> st.SearchStrategy[object]:
    return often(PLAUSIBLE[key])


def table(keys: tuple[str, ...], required: tuple[str, ...]) -> st.SearchStrategy[dict[str, object]]:
    known = st.fixed_dictionaries(
        {key: mostly(key) for key in required},
        optional={key: mostly(key) for key in keys if key not in required},
    )
    # Now and then a stray key, which must be reported as unknown.
    stray = st.dictionaries(st.text(max_size=10), values, max_size=1)
    return st.tuples(known, stray, st.integers(0, 9)).map(
        lambda t: {**t[0], **t[1]} if t[2] == 0 else t[0]
    )


documents = st.fixed_dictionaries(
    {"bgp": often(table(BGP_KEYS, ("asn",)))},
    optional={
        "log_level": often(st.sampled_from(["debug", "warn", "ERROR"])),
        "peer": often(st.lists(table(PEER_KEYS, ("address",)), max_size=4)),
        "control": often(table(CONTROL_KEYS, ())),
        "calico": often(table(CALICO_KEYS, ())),
        "filter": often(
            st.just([{"name": "f1", "exportV4": [{"action": "Reject", "cidr": "0.0.0.0/0"}]}])
        ),
    },
)
environments = st.sampled_from([ENV, ENV, ENV, {"IP": "none"}, {"IP": "bogus"}, {"IP": "::1"}])


def toml_value(value: object) -> str:
    """Render a value as TOML (inline forms only), so any generated tree becomes a document."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # repr gives inf/-inf/1e+16
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{toml_string(key)} = {toml_value(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    assert isinstance(value, datetime), value
    return value.isoformat()


def toml_string(text: str) -> str:
    def escape(char: str) -> str:
        if char in '"\\' or ord(char) < 0x20 or ord(char) == 0x7F:
            return f"\\u{ord(char):04X}"
        return char

    return '"' + "".join(escape(char) for char in text) + '"'


def check_outcome(text: str, env: Mapping[str, str]) -> None:
    try:
        config = load_text(text, env=env)
    except ConfigError as error:
        assert isinstance(error.field, str)
        assert error.field
        assert isinstance(error.message, str)
        assert error.message
        return
    # Whatever loads must honour the invariants the rest of pyrr relies on.
    assert isinstance(config, Config)
    assert 1 <= config.bgp.asn < 2**32
    assert config.bgp.router_id != IPv4Address(0)
    addresses = [p.address for p in config.peers]
    assert len(set(addresses)) == len(addresses)
    for each in config.peers:
        assert each.hold_time == 0 or 3 <= each.hold_time <= 65535
        assert each.kind == ("client" if each.client else "non-client")
        assert each.local_address is None or each.local_address.version == each.address.version
    assert config.control.socket in ("", "/run/pyrr/pyrr.sock") or (
        config.control.socket.startswith("/") and len(config.control.socket.encode()) <= 107
    )
    assert config.control.metrics == "" or parse_host_port(config.control.metrics)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, env=environments)
def test_fuzz_structured_documents(document: dict[str, object], env: Mapping[str, str]) -> None:
    text = "\n".join(f"{toml_string(key)} = {toml_value(value)}" for key, value in document.items())
    check_outcome(text, env)


@settings(max_examples=300)
@given(text=st.text(max_size=200), env=environments)
def test_fuzz_arbitrary_text(text: str, env: Mapping[str, str]) -> None:
    check_outcome(text, env)


@settings(max_examples=200)
@given(
    lines=st.lists(
        st.sampled_from(
            ["[bgp]", "[[peer]]", "[peer]", "asn = 61234", 'address = "198.18.0.1"',
             'address = "198.18.0.2"', "hold_time = 2", "client = false", 'router_id = "1.2.3.4"',
             "listen = []", "cluster_id = 7", "port = 0", "[[bgp]]", "peer = 1", "= 1", "["]
        ),
        max_size=12,
    ),
    env=environments,
)  # fmt: skip
def test_fuzz_line_soup(lines: list[str], env: Mapping[str, str]) -> None:
    check_outcome("\n".join(lines), env)
