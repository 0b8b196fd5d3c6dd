"""The environment, as calico/routereflector read it plus pyrr's own variables, and merge()."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrr.config import Config, ConfigError, ControlConfig, GlobalConfig, PeerConfig
from pyrr.store.etcd.endpoints import EtcdEndpoint
from pyrr.store.file.environment import (
    CALICO_DEFAULT_AS,
    VARIABLES,
    EnvSettings,
    from_environment,
)
from pyrr.store.file.merge import merge
from pyrr.store.file.toml_config import load_text
from tests.ops.fake_netlink import fake_host

RR_IP = "192.168.56.104"
DETECTED = IPv4Address("198.18.0.77")


def no_detect() -> IPv4Address | None:
    return None


def detect() -> IPv4Address | None:
    return DETECTED


def read(env: Mapping[str, str]) -> EnvSettings:
    return from_environment(env, autodetect=detect)


def fails(env: Mapping[str, str], field: str, *words: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        read(env)
    err = info.value
    assert err.field == field, err
    for word in words:
        assert word in err.message, err
    return err


# --- TLS material -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_key: Path
    encrypted_key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.fail("openssl not installed: run scripts/setup.sh")
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2")
    _openssl("req", "-x509", *ec, "-keyout", str(d / "ca-key.pem"), "-out", str(d / "ca.pem"),
             "-subj", "/CN=etcd-root-ca")  # fmt: skip
    _openssl("req", "-x509", *ec, "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
             "-subj", "/CN=etcd")  # fmt: skip
    _openssl("req", "-x509", *ec, "-keyout", str(d / "other-key.pem"),
             "-out", str(d / "other.pem"), "-subj", "/CN=other")  # fmt: skip
    _openssl("pkey", "-in", str(d / "key.pem"), "-aes256", "-passout", "pass:secret",
             "-out", str(d / "enc-key.pem"))  # fmt: skip
    return Pki(d / "ca.pem", d / "cert.pem", d / "key.pem", d / "other-key.pem", d / "enc-key.pem")


def seed_env(pki: Pki) -> dict[str, str]:
    """The seed's `docker run` line for calico/routereflector, certificates made up."""
    return {
        "IP": RR_IP,
        "ETCD_ENDPOINTS": "https://192.168.56.101:2379",
        "ETCD_CA_CERT_FILE": str(pki.ca),
        "ETCD_CERT_FILE": str(pki.cert),
        "ETCD_KEY_FILE": str(pki.key),
    }


# --- the seed ---------------------------------------------------------------------------------


def test_the_seed_docker_run_line(pki: Pki) -> None:
    s = read(seed_env(pki))
    assert s.etcd_mode
    assert s.ip == IPv4Address(RR_IP)
    assert s.ip6 is None
    assert s.datastore_type == "etcdv3"
    assert s.etcd_endpoints == (EtcdEndpoint("https", "192.168.56.101", 2379),)
    assert s.etcd_endpoints[0].url == "https://192.168.56.101:2379"
    assert s.etcd_endpoints[0].tls
    assert (s.etcd_ca_cert_file, s.etcd_cert_file, s.etcd_key_file) == (
        str(pki.ca),
        str(pki.cert),
        str(pki.key),
    )
    assert s.etcd_username is None and s.etcd_password is None
    assert s.log_level is None
    assert s.cluster_id is None
    assert s.port is None
    assert s.fallback_as == CALICO_DEFAULT_AS == 64512
    assert s.rr_cluster is False  # v0.6 with Calico 3.x: a standalone RR
    assert s.labels is None
    assert s.control_socket is None
    assert s.warnings == ()


def test_empty_environment_is_file_mode() -> None:
    s = read({})
    assert not s.etcd_mode
    assert s.ip is None
    assert s == EnvSettings()


def test_blank_values_count_as_unset() -> None:
    s = read({"IP": " ", "IP6": "", "BGP_LOGSEVERITYSCREEN": "  ", "ETCD_ENDPOINTS": ""})
    assert s == EnvSettings()


def test_every_variable_is_documented() -> None:
    for name in (
        "IP",
        "IP6",
        "DATASTORE_TYPE",
        "ETCD_ENDPOINTS",
        "ETCD_CA_CERT_FILE",
        "ETCD_CERT_FILE",
        "ETCD_KEY_FILE",
        "ETCD_USERNAME",
        "ETCD_PASSWORD",
        "BGP_LOGSEVERITYSCREEN",
        "CLUSTER_ID",
        "PYRR_PORT",
        "PYRR_AS",
        "PYRR_RR_CLUSTER",
        "PYRR_LABELS",
        "PYRR_CONTROL_SOCKET",
        "PYRR_BGP_PASSWORD",
        "PYRR_BGP_PASSWORD_FILE",
    ):
        assert name in VARIABLES


# --- IP and IP6 -------------------------------------------------------------------------------

ETCD = {"ETCD_ENDPOINTS": "http://127.0.0.1:2379"}


def test_ip_is_required_in_etcd_mode() -> None:
    fails(ETCD, "IP", "not set", "IP=autodetect")


def test_ip_autodetect() -> None:
    assert read({**ETCD, "IP": "autodetect"}).ip == DETECTED
    assert read({**ETCD, "IP": "AutoDetect"}).ip == DETECTED
    with pytest.raises(ConfigError) as info:
        from_environment({**ETCD, "IP": "autodetect"}, autodetect=no_detect)
    assert info.value.field == "IP"
    assert "no usable IPv4 address" in info.value.message


def test_ip_autodetect_is_the_file_modes_autodetection(monkeypatch: pytest.MonkeyPatch) -> None:
    """IP=autodetect and a file without bgp.router_id pick the same address on one host: both
    are calico-node's rule (pyrr.ops.autodetect) with the IP_AUTODETECTION_METHOD given."""
    host = fake_host(monkeypatch)
    host.add(1, "lo", "127.0.0.1")
    host.add(2, "eth0", "198.18.0.5")
    host.add(3, "eth1", "198.18.1.5")
    host.add(4, "docker0", "172.17.0.1")
    for method in ({}, {"IP_AUTODETECTION_METHOD": "interface=eth0"}):
        env = {**ETCD, "IP": "autodetect", **method}
        file_mode = load_text("[bgp]\nasn = 64512\n", env=method).bgp.router_id
        assert from_environment(env).ip == file_mode
    assert from_environment({**ETCD, "IP": "autodetect"}).ip == IPv4Address("198.18.1.5")
    fails_as = {**ETCD, "IP": "autodetect", "IP_AUTODETECTION_METHOD": "cidr=x"}
    with pytest.raises(ConfigError) as info:
        from_environment(fails_as)
    assert info.value.field == "IP_AUTODETECTION_METHOD"
    assert "invalid CIDR 'x'" in info.value.message


def test_ip_none() -> None:
    fails({**ETCD, "IP": "none"}, "IP", "needs an IPv4 router id")
    assert read({"IP": "none"}).ip is None  # file mode: the file's router_id then


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("192.168.56.104/24", "without a prefix length"),
        ("fd00::104", "is an IPv6 address"),
        ("node3", "an IPv4 address like"),
        ("0.0.0.0", "unicast"),
        ("224.0.0.5", "unicast"),
        ("255.255.255.255", "unicast"),
        ("192.168.56.256", "an IPv4 address like"),
    ],
)
def test_ip_errors(value: str, words: str) -> None:
    fails({**ETCD, "IP": value}, "IP", words)
    fails({"IP": value}, "IP", words)  # validated in file mode too


def test_ip6() -> None:
    s = read({**ETCD, "IP": RR_IP, "IP6": "fd00:56::104"})
    assert s.ip6 == IPv6Address("fd00:56::104")
    assert read({**ETCD, "IP": RR_IP, "IP6": "none"}).ip6 is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("192.168.56.104", "IP6 takes the IPv6 address"),
        ("fd00::104/64", "without a prefix length"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("::", "unicast"),
        ("ff02::5", "unicast"),
        ("autodetect", "not supported for IP6"),
        ("nope", "an IPv6 address like"),
    ],
)
def test_ip6_errors(value: str, words: str) -> None:
    fails({**ETCD, "IP": RR_IP, "IP6": value}, "IP6", words)


# --- the datastore ----------------------------------------------------------------------------


def test_datastore_type() -> None:
    assert read({**ETCD, "IP": RR_IP, "DATASTORE_TYPE": "etcdv3"}).datastore_type == "etcdv3"
    assert read({**ETCD, "IP": RR_IP, "DATASTORE_TYPE": " ETCDV3 "}).datastore_type == "etcdv3"
    fails({"DATASTORE_TYPE": "kubernetes"}, "DATASTORE_TYPE", "not supported yet", "etcdv3")
    fails({**ETCD, "IP": RR_IP, "DATASTORE_TYPE": "Kubernetes"}, "DATASTORE_TYPE", "not supported")
    fails({"DATASTORE_TYPE": "consul"}, "DATASTORE_TYPE", "must be etcdv3", "'consul'")
    fails({"DATASTORE_TYPE": "etcdv3"}, "ETCD_ENDPOINTS", "no etcd endpoints specified")


def test_endpoints_list() -> None:
    s = read(
        {
            "IP": RR_IP,
            "ETCD_ENDPOINTS": " https://10.0.0.1:2379 ,HTTPS://etcd-2.example.com:2379,"
            "http://[fd00::1]:2379, https://10.0.0.1:2379,",
        }
    )
    assert [e.url for e in s.etcd_endpoints] == [
        "https://10.0.0.1:2379",
        "https://etcd-2.example.com:2379",
        "http://[fd00::1]:2379",
    ]
    assert [e.tls for e in s.etcd_endpoints] == [True, True, False]
    assert s.etcd_endpoints[2].host == "fd00::1"
    assert str(s.etcd_endpoints[1]) == "https://etcd-2.example.com:2379"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("192.168.56.101:2379", "needs a scheme"),
        ("ftp://10.0.0.1:2379", "http:// or https://"),
        ("https://10.0.0.1", "has no port"),
        ("https://10.0.0.1:0", "port 0"),
        ("https://10.0.0.1:99999", "not a valid URL"),
        ("https://10.0.0.1:x", "not a valid URL"),
        ("https://user:pw@10.0.0.1:2379", "ETCD_USERNAME and ETCD_PASSWORD"),
        ("https://10.0.0.1:2379/v3", "only scheme://host:port"),
        ("https://10.0.0.1:2379?x=1", "only scheme://host:port"),
        ("https://:2379", "has no host"),
        ("https://bad_host!:2379", "invalid host"),
        ("https://300.1.1.1:2379", "invalid host"),
        (" , ,", "has no endpoints"),
        ("https://10.0.0.1:2379,10.0.0.2:2379", "endpoint 2 ('10.0.0.2:2379') needs a scheme"),
    ],
)
def test_endpoint_errors(value: str, words: str) -> None:
    fails({"IP": RR_IP, "ETCD_ENDPOINTS": value}, "ETCD_ENDPOINTS", words)


# --- TLS --------------------------------------------------------------------------------------


def test_https_without_a_ca_uses_system_cas() -> None:
    s = read({"IP": RR_IP, "ETCD_ENDPOINTS": "https://10.0.0.1:2379"})
    assert s.etcd_ca_cert_file is None and s.etcd_mode


def test_ca_only(pki: Pki) -> None:
    s = read(
        {"IP": RR_IP, "ETCD_ENDPOINTS": "https://10.0.0.1:2379", "ETCD_CA_CERT_FILE": str(pki.ca)}
    )
    assert s.etcd_ca_cert_file == str(pki.ca)


def test_cert_and_key_go_together(pki: Pki) -> None:
    env = seed_env(pki)
    fails(
        {k: v for k, v in env.items() if k != "ETCD_KEY_FILE"}, "ETCD_KEY_FILE", "ETCD_CERT_FILE is"
    )
    fails(
        {k: v for k, v in env.items() if k != "ETCD_CERT_FILE"},
        "ETCD_CERT_FILE",
        "ETCD_KEY_FILE is",
    )


def test_tls_file_problems(pki: Pki, tmp_path: Path) -> None:
    env = seed_env(pki)
    fails(
        {**env, "ETCD_CA_CERT_FILE": str(tmp_path / "missing.pem")},
        "ETCD_CA_CERT_FILE",
        "cannot read",
        "missing.pem",
    )
    fails({**env, "ETCD_CERT_FILE": str(tmp_path)}, "ETCD_CERT_FILE", "is a directory")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    fails({**env, "ETCD_CA_CERT_FILE": str(garbage)}, "ETCD_CA_CERT_FILE", "not a PEM certificate")
    fails({**env, "ETCD_KEY_FILE": str(pki.cert)}, "ETCD_KEY_FILE", "not a PEM private key")
    fails({**env, "ETCD_CERT_FILE": str(pki.key)}, "ETCD_CERT_FILE", "not a PEM certificate")
    fails({**env, "ETCD_KEY_FILE": str(pki.encrypted_key)}, "ETCD_KEY_FILE", "encrypted")
    fails(
        {**env, "ETCD_KEY_FILE": str(pki.other_key)},
        "ETCD_KEY_FILE",
        "does not load with ETCD_CERT_FILE",
    )
    broken = tmp_path / "broken-ca.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    fails({**env, "ETCD_CA_CERT_FILE": str(broken)}, "ETCD_CA_CERT_FILE", "could not be loaded")


def test_unreadable_file(pki: Pki, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    locked = tmp_path / "locked.pem"
    locked.write_bytes(pki.ca.read_bytes())
    locked.chmod(0)
    env = {**seed_env(pki), "ETCD_CA_CERT_FILE": str(locked)}
    if os.geteuid() != 0:
        fails(env, "ETCD_CA_CERT_FILE", "cannot read")
        return
    # Root reads every file: check it as an unprivileged user instead (setpriv, util-linux).
    for f in (tmp_path, *(p.parent for p in (pki.ca, pki.cert, pki.key))):
        f.chmod(f.stat().st_mode | 0o755)
    for f in (pki.ca, pki.cert, pki.key):
        f.chmod(0o644)
    code = (
        "import json, sys\n"
        "from pyrr.config import ConfigError\n"
        "from pyrr.store.file.environment import from_environment\n"
        "try:\n"
        "    from_environment(json.loads(sys.argv[1]), autodetect=lambda: None)\n"
        "except ConfigError as e:\n"
        "    print(e.field, e.message)\n"
    )
    r = subprocess.run(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            sys.executable,
            "-c",
            code,
            json.dumps(env),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=str(Path(__file__).resolve().parents[3]),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ETCD_CA_CERT_FILE") and "cannot read" in r.stdout, r.stdout


def test_tls_files_with_only_http_endpoints_warn(pki: Pki) -> None:
    s = read({**seed_env(pki), "ETCD_ENDPOINTS": "http://10.0.0.1:2379"})
    assert any("not used" in w for w in s.warnings)


@pytest.mark.parametrize("name", ["ETCD_CA_CERT_FILE", "ETCD_CERT_FILE", "ETCD_USERNAME"])
def test_etcd_settings_without_endpoints_contradict(pki: Pki, name: str) -> None:
    env = {"ETCD_CERT_FILE": str(pki.cert), "ETCD_KEY_FILE": str(pki.key)}
    if name == "ETCD_USERNAME":
        env = {"ETCD_USERNAME": "pyrr", "ETCD_PASSWORD": "pw"}
    elif name == "ETCD_CA_CERT_FILE":
        env = {"ETCD_CA_CERT_FILE": str(pki.ca)}
    fails(env, "ETCD_ENDPOINTS", f"but {name} is")


# --- credentials ------------------------------------------------------------------------------


def test_credentials() -> None:
    s = read({**ETCD, "IP": RR_IP, "ETCD_USERNAME": "pyrr", "ETCD_PASSWORD": " s3cret "})
    assert (s.etcd_username, s.etcd_password) == ("pyrr", " s3cret ")
    assert "s3cret" not in repr(s)
    assert any("clear text" in w for w in s.warnings)  # http:// endpoint


def test_credentials_both_or_neither() -> None:
    fails({**ETCD, "IP": RR_IP, "ETCD_USERNAME": "pyrr"}, "ETCD_PASSWORD", "set both or neither")
    err = fails(
        {**ETCD, "IP": RR_IP, "ETCD_PASSWORD": "hunter2"}, "ETCD_USERNAME", "both or neither"
    )
    assert "hunter2" not in str(err)
    err = fails({"ETCD_PASSWORD": "hunter2"}, "ETCD_USERNAME")
    assert "hunter2" not in str(err)


# --- the TCP MD5 key of the Calico sessions --------------------------------------------------


def test_bgp_password_from_the_environment_is_taken_as_written() -> None:
    s = read({**ETCD, "IP": RR_IP, "PYRR_BGP_PASSWORD": " correct horse "})
    assert s.bgp_password == " correct horse "
    assert "horse" not in repr(s)
    assert read({**ETCD, "IP": RR_IP}).bgp_password is None
    assert read({**ETCD, "IP": RR_IP, "PYRR_BGP_PASSWORD": ""}).bgp_password is None


@pytest.mark.parametrize(
    ("content", "key"),
    [(b"s3cret\n", "s3cret"), (b"s3cret", "s3cret"), (b"s3cret\r\n", "s3cret"),
     (b" two words \n\n", " two words \n"), ("schlüssel".encode(), "schlüssel")],
)  # fmt: skip
def test_bgp_password_file(tmp_path: Path, content: bytes, key: str) -> None:
    f = tmp_path / "rr-password"
    f.write_bytes(content)
    s = read({**ETCD, "IP": RR_IP, "PYRR_BGP_PASSWORD_FILE": str(f)})
    assert s.bgp_password == key


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ("PYRR_BGP_PASSWORD_FILE", "1 to 80 bytes", "is empty")),
        (b"\n", ("1 to 80 bytes", "is empty")),
        (b"k" * 81, ("1 to 80 bytes", "is 81 bytes")),
        (b"\xff\xfe", ("not UTF-8",)),
    ],
)
def test_bgp_password_file_errors_never_show_the_key(
    tmp_path: Path, content: bytes, words: tuple[str, ...]
) -> None:
    f = tmp_path / "rr-password"
    f.write_bytes(content)
    err = fails({**ETCD, "IP": RR_IP, "PYRR_BGP_PASSWORD_FILE": str(f)}, "PYRR_BGP_PASSWORD_FILE")
    for word in words:
        assert word in str(err), err
    if content:
        assert "kkkk" not in str(err)


def test_bgp_password_errors(tmp_path: Path) -> None:
    err = fails({**ETCD, "IP": RR_IP, "PYRR_BGP_PASSWORD": "k" * 81}, "PYRR_BGP_PASSWORD", "81")
    assert "kkkk" not in str(err)
    fails(
        {**ETCD, "IP": RR_IP, "PYRR_BGP_PASSWORD_FILE": str(tmp_path / "missing")},
        "PYRR_BGP_PASSWORD_FILE",
        "cannot read",
        "No such file",
    )
    f = tmp_path / "k"
    f.write_text("s3cret")
    both = {**ETCD, "IP": RR_IP, "PYRR_BGP_PASSWORD": "x", "PYRR_BGP_PASSWORD_FILE": str(f)}
    fails(both, "PYRR_BGP_PASSWORD", "both set")
    # Outside etcd mode the file's [[peer]] password keys apply: the variable would be unused.
    err = fails({"PYRR_BGP_PASSWORD": "hunter2"}, "PYRR_BGP_PASSWORD", "ETCD_ENDPOINTS", "[[peer]]")
    assert "hunter2" not in str(err)
    fails({"PYRR_BGP_PASSWORD_FILE": str(f)}, "PYRR_BGP_PASSWORD_FILE", "ETCD_ENDPOINTS")


# --- log level and pyrr's own variables -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("Info", "info"),
        ("DEBUG", "debug"),
        ("warning", "warning"),
        ("Warn", "warning"),
        ("Error", "error"),
        ("Fatal", "fatal"),
        ("none", "none"),
    ],
)
def test_log_severity(value: str, level: str) -> None:
    assert read({"BGP_LOGSEVERITYSCREEN": value}).log_level == level


def test_log_severity_error() -> None:
    fails({"BGP_LOGSEVERITYSCREEN": "verbose"}, "BGP_LOGSEVERITYSCREEN", "debug, info", "'verbose'")


@pytest.mark.parametrize(
    ("value", "cluster_id"),
    [
        ("1.0.0.1", "1.0.0.1"),
        ("16777217", "1.0.0.1"),
        ("0", "0.0.0.0"),
        ("4294967295", "255.255.255.255"),
    ],
)
def test_cluster_id(value: str, cluster_id: str) -> None:
    assert read({"CLUSTER_ID": value}).cluster_id == IPv4Address(cluster_id)


@pytest.mark.parametrize("value", ["4294967296", "1.0.0", "-1", "rr-1", "fd00::1"])
def test_cluster_id_errors(value: str) -> None:
    fails({"CLUSTER_ID": value}, "CLUSTER_ID", "dotted quad")


def test_port_and_as() -> None:
    s = read({"PYRR_PORT": "1790", "PYRR_AS": "61234"})
    assert (s.port, s.fallback_as) == (1790, 61234)
    assert read({"PYRR_AS": "1.10"}).fallback_as == 65546  # asdot, as Calico accepts
    assert read({"PYRR_AS": "4294967295"}).fallback_as == 2**32 - 1
    for bad in ("0", "65536x", "-1", "4294967296", "1.70000"):
        fails({"PYRR_AS": bad}, "PYRR_AS", "AS number")
    for bad in ("0", "65536", "http", "-5"):
        fails({"PYRR_PORT": bad}, "PYRR_PORT", "TCP port")


def test_rr_cluster_defaults() -> None:
    assert read({**ETCD, "IP": RR_IP}).rr_cluster is False
    assert read({**ETCD, "IP": RR_IP, "CLUSTER_ID": "1.0.0.1"}).rr_cluster is True
    assert read({"CLUSTER_ID": "1.0.0.1"}).rr_cluster is False  # no etcd: nothing to register in
    assert (
        read({**ETCD, "IP": RR_IP, "CLUSTER_ID": "1.0.0.1", "PYRR_RR_CLUSTER": "false"}).rr_cluster
        is False
    )
    assert read({**ETCD, "IP": RR_IP, "PYRR_RR_CLUSTER": "TRUE"}).rr_cluster is True


def test_rr_cluster_errors() -> None:
    fails({"PYRR_RR_CLUSTER": "true"}, "PYRR_RR_CLUSTER", "ETCD_ENDPOINTS is not set")
    fails({**ETCD, "IP": RR_IP, "PYRR_RR_CLUSTER": "maybe"}, "PYRR_RR_CLUSTER", "true or false")


def test_labels() -> None:
    s = read({"PYRR_LABELS": "route-reflector=true, projectcalico.org/rr = yes ,empty=,"})
    assert s.labels == {"route-reflector": "true", "projectcalico.org/rr": "yes", "empty": ""}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("route-reflector", "has no '='"),
        ("a b=c", "label key"),
        ("=x", "label key"),
        ("rr=-x", "Kubernetes label value"),
        ("rr=" + "x" * 64, "Kubernetes label value"),
        ("rr=a,rr=b", "given twice"),
    ],
)
def test_label_errors(value: str, words: str) -> None:
    fails({"PYRR_LABELS": value}, "PYRR_LABELS", words)


def test_control_socket() -> None:
    assert read({"PYRR_CONTROL_SOCKET": "/run/pyrr.sock"}).control_socket == "/run/pyrr.sock"
    fails({"PYRR_CONTROL_SOCKET": "/" + "x" * 120}, "PYRR_CONTROL_SOCKET", "at most 107")
    fails({"PYRR_CONTROL_SOCKET": "/run/\0x"}, "PYRR_CONTROL_SOCKET", "NUL")


# --- merge ------------------------------------------------------------------------------------

FILE = Config(
    bgp=GlobalConfig(
        asn=65001,
        router_id=IPv4Address("10.0.0.1"),
        cluster_id=IPv4Address("10.0.0.1"),  # the loader's default: the router id
        listen=(IPv4Address("10.0.0.1"),),
        port=1179,
        restart_time=90,
        connect_retry=7,
    ),
    peers=(PeerConfig(address=IPv4Address("10.0.0.2"), asn=65001),),
    log_level="warning",
    control=ControlConfig(socket="/run/file.sock", metrics="127.0.0.1:9179"),
)


def test_merge_file_only() -> None:
    cfg = merge(FILE, EnvSettings(), {})
    assert cfg == FILE


def test_merge_env_over_file() -> None:
    env = EnvSettings(ip=IPv4Address("10.9.9.9"), port=2179, log_level="debug")
    cfg = merge(FILE, env, {})
    assert cfg.bgp.router_id == IPv4Address("10.9.9.9")
    # The file's cluster id was its default, so it follows the new router id.
    assert cfg.bgp.cluster_id == IPv4Address("10.9.9.9")
    assert cfg.bgp.port == 2179
    assert cfg.log_level == "debug"
    assert cfg.bgp.listen == FILE.bgp.listen  # outside etcd mode IP does not narrow listening
    assert (cfg.bgp.asn, cfg.peers) == (65001, FILE.peers)
    assert (cfg.bgp.restart_time, cfg.bgp.connect_retry) == (90, 7)


def test_merge_file_cluster_id_kept_when_explicit() -> None:
    from dataclasses import replace

    file_cfg = replace(FILE, bgp=replace(FILE.bgp, cluster_id=IPv4Address("1.0.0.1")))
    cfg = merge(file_cfg, EnvSettings(ip=IPv4Address("10.9.9.9")), {})
    assert cfg.bgp.cluster_id == IPv4Address("1.0.0.1")
    cfg = merge(file_cfg, EnvSettings(cluster_id=IPv4Address("2.0.0.2")), {})
    assert cfg.bgp.cluster_id == IPv4Address("2.0.0.2")


def test_merge_cli_over_env() -> None:
    env = EnvSettings(
        ip=IPv4Address("10.9.9.9"),
        port=2179,
        log_level="debug",
        cluster_id=IPv4Address("2.0.0.2"),
    )
    cli: dict[str, object] = {
        "router_id": "10.7.7.7",
        "port": "3179",
        "log_level": "ERROR",
        "cluster_id": 16777217,
        "listen": "10.7.7.7, ::1",
    }
    cfg = merge(FILE, env, cli)
    assert cfg.bgp.router_id == IPv4Address("10.7.7.7")
    assert cfg.bgp.port == 3179
    assert cfg.log_level == "error"
    assert cfg.bgp.cluster_id == IPv4Address("1.0.0.1")
    assert cfg.bgp.listen == (IPv4Address("10.7.7.7"), IPv6Address("::1"))


def test_merge_control_socket() -> None:
    env = EnvSettings(control_socket="/run/env.sock")
    assert merge(FILE, env, {}).control == ControlConfig("/run/env.sock", "127.0.0.1:9179")
    cfg = merge(FILE, env, {"control_socket": "/run/cli.sock"})
    assert cfg.control == ControlConfig("/run/cli.sock", "127.0.0.1:9179")
    assert merge(None, EnvSettings(ip=IPv4Address(RR_IP)), {}).control == ControlConfig()
    with pytest.raises(ConfigError) as info:
        merge(FILE, env, {"control_socket": "/" + "x" * 200})
    assert info.value.field == "--control-socket"


def test_merge_cli_none_means_not_given() -> None:
    cli = dict.fromkeys(
        ("router_id", "listen", "port", "log_level", "cluster_id", "control_socket")
    )
    assert merge(FILE, EnvSettings(), cli) == FILE


def test_merge_etcd_mode_without_file() -> None:
    env = EnvSettings(
        ip=IPv4Address(RR_IP),
        ip6=IPv6Address("fd00::104"),
        etcd_endpoints=(EtcdEndpoint("https", "192.168.56.101", 2379),),
        fallback_as=61234,
    )
    cfg = merge(None, env, {})
    assert cfg.bgp.router_id == cfg.bgp.cluster_id == IPv4Address(RR_IP)
    assert cfg.bgp.listen == (IPv4Address(RR_IP), IPv6Address("fd00::104"))
    assert cfg.bgp.port == 179
    assert cfg.bgp.asn == 61234
    assert cfg.peers == ()
    assert cfg.log_level == "info"


def test_merge_needs_a_router_id() -> None:
    with pytest.raises(ConfigError) as info:
        merge(None, EnvSettings(), {})
    assert info.value.field == "IP"
    # The ways a user has: no --router-id (pyrr run has no such option).
    assert "IP=" in info.value.message and "bgp.router_id" in info.value.message
    assert "--router-id" not in info.value.message


@pytest.mark.parametrize(
    ("cli", "field"),
    [
        ({"router_id": "0.0.0.0"}, "--router-id"),
        ({"router_id": "fd00::1"}, "--router-id"),
        ({"port": "0"}, "--port"),
        ({"port": True}, "--port"),
        ({"log_level": "loud"}, "--log-level"),
        ({"cluster_id": "x"}, "--cluster-id"),
        ({"listen": "10.0.0.1,banana"}, "--listen"),
        ({"listen": "224.0.0.1"}, "--listen"),
        ({"listen": 5}, "--listen"),
        ({"asn": 5}, "--asn"),
    ],
)
def test_merge_cli_errors(cli: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        merge(FILE, EnvSettings(), cli)
    assert info.value.field == field


# --- robustness -------------------------------------------------------------------------------

_NAMES = st.sampled_from(sorted(VARIABLES))
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "autodetect",
            "none",
            "true",
            "false",
            "192.168.56.104",
            "fd00::1",
            "https://10.0.0.1:2379",
            "http://[::1]:2379,https://x:1",
            "1.0.0.1",
            "64512",
            "k=v",
            "etcdv3",
            "kubernetes",
            "/nonexistent/file.pem",
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_NAMES, _VALUES, max_size=8))
def test_any_environment_reads_or_is_a_config_error(env: dict[str, str]) -> None:
    try:
        s = from_environment(env, autodetect=detect)
    except ConfigError as err:
        assert err.field in VARIABLES
        return
    assert s.etcd_mode == bool(s.etcd_endpoints)
    if s.etcd_mode:
        assert s.ip is not None
