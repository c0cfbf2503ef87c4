"""``edgepilot gcs fence``: end to end against a real ``edgepilot sitl run
--realtime`` subprocess, driven only through ``edgepilot gcs`` subprocesses;
plus the fence file parsers' error messages."""
from __future__ import annotations

import json

import pytest

from edgepilot.gcs.errors import FileFormatError
from edgepilot.gcs.formats.fence import Fence, Zone, format_plan, format_text, load_fence, parse_plan, parse_text
from edgepilot.sim.realtime import free_port, spawn, stop
from test_gcs_e2e import YARD, gcs, ok

pytestmark = pytest.mark.interop

SPEEDUP = 8.0


def ll(x: float, y: float) -> tuple[float, float]:
    lat, lon = YARD.to_geo(x, y)
    return round(lat, 7), round(lon, 7)


#: An inclusion polygon round the west of the yard, a barrel kept out, a return point.
SITE = Fence((Zone("polygon", True, (ll(0, 0), ll(40, 0), ll(40, 38), ll(0, 38))),
              Zone("circle", False, (ll(24, 6),), 2.5)), ll(4, 4))


def plan_text(f: Fence) -> str:
    """As QGroundControl writes it (a .plan with a geoFence section)."""
    doc = json.loads(format_plan(f))
    assert set(doc["geoFence"]) >= {"circles", "polygons", "version"}
    return json.dumps(doc, indent=4)


@pytest.fixture(scope="module")
def sitl():
    tcp = free_port("tcp")
    p = spawn("ugv_yard", [f"tcpin:127.0.0.1:{tcp}"], SPEEDUP)
    try:
        yield f"tcp:127.0.0.1:{tcp}"
    finally:
        stop(p)


def shown(ep: str) -> Fence:
    d = json.loads(ok(gcs("-c", ep, "fence", "show", "--json")))
    zones = tuple(Zone(z["type"], z["inclusion"], tuple(map(tuple, z["polygon"])) if z["type"] == "polygon"
                       else (tuple(z["center"]),), z.get("radius_m", 0.0)) for z in d["zones"])
    return Fence(zones, tuple(d["return_point"]) if d["return_point"] else None)


def test_fence_upload_show_download_replace_and_clear(sitl, tmp_path):
    ep = sitl
    assert ok(gcs("-c", ep, "fence", "show")).strip() == "no fence on sysid 1"
    plan = tmp_path / "site.plan"
    plan.write_text(plan_text(SITE))
    out = ok(gcs("-c", ep, "fence", "upload", str(plan)))
    assert out.strip() == "uploaded fence: 2 zone(s), 6 items to sysid 1"
    assert shown(ep).same_as(SITE)
    table = ok(gcs("-c", ep, "fence", "show"))
    assert "fence on sysid 1: 2 zone(s)" in table
    assert "inclusion polygon" in table and "4 vertices" in table
    assert "exclusion circle" in table and "2.5 m" in table and "return point" in table
    # Download in both formats; each reads back as the same fence.
    for name in ("back.plan", "back.fence"):
        ok(gcs("-c", ep, "fence", "download", str(tmp_path / name)))
        assert load_fence(tmp_path / name).same_as(SITE)
    # A text fence replaces the whole fence.
    txt = tmp_path / "yard.fence"
    txt.write_text("# keep to the start area\npolygon inclusion\n" + "".join(
        f"{a} {b}\n" for a, b in (ll(0, 0), ll(10, 0), ll(10, 12), ll(0, 12))) + f"circle exclusion {ll(6, 8)[0]} "
                   f"{ll(6, 8)[1]} 1.5  # a pillar\n")
    ok(gcs("-c", ep, "fence", "upload", str(txt)))
    now = shown(ep)
    assert now.same_as(parse_text(txt.read_text())) and not now.same_as(SITE)
    assert len(now.zones) == 2 and now.return_point is None
    assert ok(gcs("-c", ep, "fence", "clear")).strip() == "fence cleared on sysid 1"
    assert ok(gcs("-c", ep, "fence", "show")).strip() == "no fence on sysid 1"
    # The mission is a separate plan: untouched by fence operations.
    assert json.loads(ok(gcs("-c", ep, "mission", "show", "--json")))["items"][0]["home"] is True


@pytest.mark.parametrize("name, text, expected", [
    ("lat.fence", "polygon inclusion\n47.39 8.54\n97.5 8.54\n47.40 8.55\n",
     "lat.fence:3: vertex: latitude 97.5 out of range (expected -90..90 degrees)"),
    ("few.fence", "# two vertices\npolygon exclusion\n47.39 8.54\n47.40 8.54\ncircle inclusion 47.39 8.54 30\n",
     "few.fence:2: exclusion polygon started here: a polygon needs 3..100 vertices, got 2"),
    ("bow.fence", "polygon inclusion\n47.0 8.0\n47.001 8.001\n47.0 8.001\n47.001 8.0\n",
     "bow.fence:1: inclusion polygon started here: polygon edges 1 and 3 cross"),
    ("rad.fence", "circle exclusion 47.39 8.54 -2\n", "rad.fence:1: circle: radius must be a number > 0 m, got -2.0"),
    ("word.fence", "circle exclusion 47.39 eight 2\n", "word.fence:1: LON is 'eight'; expected a number"),
    ("stray.fence", "47.39 8.54\n", "stray.fence:1: unexpected '47.39': expected 'polygon', 'circle' or 'return'"),
    ("side.fence", "circle inside 47.39 8.54 2\n", "side.fence:1: expected 'inclusion' or 'exclusion', got 'inside'"),
    ("empty.fence", "# nothing\n", "empty.fence: no fence zones"),
    ("r.plan", '{"fileType": "Plan", "geoFence": {"circles": [\n  {"inclusion": true,\n   "circle": '
               '{"center": [47.39, 8.54], "radius": 5}},\n  {"inclusion": false,\n   "circle": {"center": '
               '[47.39, 8.54]}}], "polygons": [], "version": 2}}',
     'r.plan (geoFence.circles[1], line 4): exclusion circle: expected "circle": {"center": [lat, lon], '
     '"radius": metres}'),
    ("i.plan", '{"fileType": "Plan", "geoFence": {"polygons": [{"inclusion": "yes", "polygon": []}]}}',
     'i.plan (geoFence.polygons[0], line 1): "inclusion" must be true or false, got \'yes\''),
    ("nofence.plan", '{"fileType": "Plan", "mission": {"items": []}}',
     'nofence.plan (geoFence): missing the "geoFence" object'),
])
def test_bad_fence_files_are_refused_before_connecting(tmp_path, name, text, expected):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(FileFormatError) as e:
        load_fence(f)
    assert str(e.value).startswith(f"{tmp_path}/{expected}"), str(e.value)
    # The endpoint does not exist: exit 2 (not 3) shows nothing was even connected.
    r = gcs("-c", f"tcp:127.0.0.1:{free_port('tcp')}", "fence", "upload", str(f))
    assert r.returncode == 2 and r.stderr.startswith(f"error: {tmp_path}/{expected}"), r.stderr


def test_text_and_plan_formats_round_trip():
    assert parse_text(format_text(SITE)).same_as(SITE)
    assert parse_plan(format_plan(SITE)).same_as(SITE)
    items = SITE.to_items()
    assert [it.command for it in items] == [5001] * 4 + [5004, 5000]
    assert [it.param1 for it in items[:5]] == [4.0] * 4 + [2.5]
