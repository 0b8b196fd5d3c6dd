"""Monitoring settings: [[bmp]] stations and [mrt] in the file, PYRR_BMP_STATIONS in the
environment (which replaces the file's stations in Calico mode)."""

from __future__ import annotations

from ipaddress import ip_address

from pyrr.config import BMP_DEFAULT_PORT, BmpStation, MrtConfig
from pyrr.store.file.merge import merge
from pyrr.store.file.toml_config import load_text
from pyrr.store.file.toml_monitor import BMP_KEYS, MRT_KEYS
from tests.store.file.test_environment import fails, read
from tests.store.file.test_toml_config import ENV, doc, fail

ETCD = {"ETCD_ENDPOINTS": "http://127.0.0.1:2379", "IP": "198.18.0.9"}
MRT = '[mrt]\ndirectory = "/var/lib/pyrr/mrt"\n'


def test_bmp_stations_with_defaults_and_every_key() -> None:
    cfg = load_text(
        doc()
        + '[[bmp]]\naddress = "198.18.0.50"\n'
        + '[[bmp]]\naddress = "2001:db8::50"\nport = 1790\nadj_rib_in = false\nloc_rib = true\n'
        + "stats_interval = 0\nqueue_limit = 1048576\n",
        env=ENV,
    )
    assert cfg.bmp == (
        BmpStation(ip_address("198.18.0.50")),
        BmpStation(
            ip_address("2001:db8::50"),
            1790,
            adj_rib_in=False,
            stats_interval=0,
            queue_limit=1048576,
        ),
    )
    assert cfg.bmp[0].port == BMP_DEFAULT_PORT and cfg.bmp[1].key == "[2001:db8::50]:1790"
    assert load_text(doc(), env=ENV).bmp == ()
    assert set(BMP_KEYS) == {
        "address",
        "port",
        "adj_rib_in",
        "loc_rib",
        "stats_interval",
        "queue_limit",
    }


def test_bmp_errors() -> None:
    assert str(fail(doc() + '[bmp]\naddress = "198.18.0.50"\n')).startswith(
        "bmp: must be an array of tables written [[bmp]]"
    )
    assert "missing" in str(fail(doc() + "[[bmp]]\nport = 1\n"))
    assert str(fail(doc() + '[[bmp]]\naddress = "collector"\n')).startswith("bmp[0].address:")
    assert str(fail(doc() + '[[bmp]]\naddress = "0.0.0.0"\n')).startswith("bmp[0].address:")
    two = '[[bmp]]\naddress = "198.18.0.50"\n'
    assert "duplicate of bmp[0]" in str(fail(doc() + two + two))
    assert str(fail(doc() + '[[bmp]]\naddress = "198.18.0.50"\nqueue_limit = 1\n')).startswith(
        "bmp[0].queue_limit: must be a number of bytes, at least 65536"
    )
    assert "did you mean 'loc_rib'" in str(
        fail(doc() + '[[bmp]]\naddress = "198.18.0.50"\nlocrib = true\n')
    )


def test_mrt_table() -> None:
    assert load_text(doc(), env=ENV).mrt == MrtConfig()
    cfg = load_text(
        doc()
        + MRT
        + "dump_interval = 7200\nupdates = true\nupdates_interval = 300\n"
        + 'updates_max_bytes = 1048576\nkeep = 10\ndump_name = "bview.%Y%m%d.%H%M"\n'
        + 'updates_name = "upd.%Y%m%d.%H%M"\n',
        env=ENV,
    )
    assert cfg.mrt == MrtConfig(
        directory="/var/lib/pyrr/mrt",
        dump_interval=7200,
        dump_name="bview.%Y%m%d.%H%M",
        updates=True,
        updates_interval=300,
        updates_max_bytes=1048576,
        updates_name="upd.%Y%m%d.%H%M",
        keep=10,
    )
    assert len(MRT_KEYS) == 8


def test_mrt_errors() -> None:
    assert str(fail(doc() + "[mrt]\nupdates = true\n")).startswith("mrt.directory: missing")
    assert str(fail(doc() + '[mrt]\ndirectory = "mrt"\n')).startswith(
        'mrt.directory: must be an absolute directory path like "/var/lib/pyrr/mrt"'
    )
    assert str(fail(doc() + MRT + 'dump_name = "a/b"\n')).startswith("mrt.dump_name: must be")
    assert str(fail(doc() + MRT + 'dump_name = "x.tmp"\n')).startswith("mrt.dump_name:")
    assert str(fail(doc() + MRT + "updates_interval = 10\n")).startswith(
        "mrt.updates_interval: must be between 60 and 86400 seconds"
    )
    same = 'dump_name = "%Y.mrt"\nupdates_name = "%s.mrt"\n'
    assert "must not name the same files as dump_name" in str(fail(doc() + MRT + same))
    assert str(fail(doc() + "[[mrt]]\n" + 'directory = "/x"\n')).startswith(
        "mrt: must be a table written [mrt]"
    )


def test_pyrr_bmp_stations() -> None:
    env = read({**ETCD, "PYRR_BMP_STATIONS": "198.18.0.50:11019, [2001:db8::50]:1790"})
    assert env.bmp_stations == (
        BmpStation(ip_address("198.18.0.50"), 11019),
        BmpStation(ip_address("2001:db8::50"), 1790),
    )
    file_cfg = load_text(doc() + '[[bmp]]\naddress = "198.18.0.60"\n' + MRT, env=ENV)
    merged = merge(file_cfg, env, {})
    assert merged.bmp == env.bmp_stations  # the environment replaces the file's stations
    assert merged.mrt == file_cfg.mrt  # [mrt] comes from the file
    assert merge(file_cfg, read(ETCD), {}).bmp == file_cfg.bmp
    fails({**ETCD, "PYRR_BMP_STATIONS": "collector:11019"}, "PYRR_BMP_STATIONS", "ADDRESS:PORT")
    fails({**ETCD, "PYRR_BMP_STATIONS": "198.18.0.50"}, "PYRR_BMP_STATIONS", "ADDRESS:PORT")
    # The addresses a [[bmp]] address refuses (a station is one host: no 0.0.0.0, no group).
    for nowhere in ("0.0.0.0:11019", "[::]:11019", "224.0.0.1:11019", "255.255.255.255:1"):
        fails({**ETCD, "PYRR_BMP_STATIONS": nowhere}, "PYRR_BMP_STATIONS", "unicast")
        address = nowhere.rpartition(":")[0].strip("[]")
        assert str(fail(doc() + f'[[bmp]]\naddress = "{address}"\n')).startswith("bmp[0].address:")
    fails(
        {**ETCD, "PYRR_BMP_STATIONS": "198.18.0.50:1,198.18.0.50:1"},
        "PYRR_BMP_STATIONS",
        "twice",
    )
