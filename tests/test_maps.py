"""ROS map_server PGM+YAML maps: round trip and use as a scenario base layer."""
import numpy as np
import pytest

from edgepilot.sim.lockstep import run_lockstep
from edgepilot.sim.scenario import load_scenario
from edgepilot.vehicle.maps import GridMap, MapFileError, load_map_server, save_map_server


def test_round_trip_keeps_cells_and_georeference(tmp_path):
    occ = np.zeros((40, 60), bool)
    occ[5, 7] = occ[30:35, 50] = True
    unk = np.zeros_like(occ)
    unk[0:3, 0:3] = True
    g = GridMap(occ, 0.25, -3.0, 2.0, unk)
    y = save_map_server(g, tmp_path / "m.yaml")
    h = load_map_server(y)
    assert np.array_equal(h.occupied, occ) and np.array_equal(h.unknown, unk)
    assert (h.resolution, h.origin_x, h.origin_y) == (0.25, -3.0, 2.0)
    # Row 0 is the south edge: the image's last line.
    assert h.world_to_cell(-3.0 + 7 * 0.25 + 0.1, 2.0 + 5 * 0.25 + 0.1) == (5, 7)
    assert (tmp_path / "m.pgm").read_bytes().startswith(b"P5")


def test_bad_map_files(tmp_path):
    (tmp_path / "a.yaml").write_text("image: nothing.pgm\nresolution: 0.1\norigin: [0, 0, 0]\n")
    with pytest.raises(MapFileError, match="could not be read"):
        load_map_server(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("image: x.pgm\nresolution: -1\norigin: [0, 0, 0]\n")
    with pytest.raises(MapFileError, match="'resolution' must be a positive"):
        load_map_server(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text("image: x.pgm\norigin: [0, 0, 0]\n")
    with pytest.raises(MapFileError, match="missing key 'resolution'"):
        load_map_server(tmp_path / "c.yaml")


def test_scenario_on_a_map_server_map(tmp_path):
    occ = np.zeros((150, 200), bool)       # 30 x 20 m at 0.1 m... 20 x 15 m at 0.1
    occ[0:110, 95:105] = True              # a wall from the south edge, gap in the north
    save_map_server(GridMap(occ, 0.1, 0.0, 0.0), tmp_path / "wall.yaml")
    (tmp_path / "sc.toml").write_text(
        'name = "map_wall"\nvehicle = "ugv"\nseed = 5\n'
        '[world]\nbounds = [0.0, 0.0, 20.0, 15.0]\norigin = [47.0, 8.0]\nmap = "wall.yaml"\n'
        '[start]\nx = 3.0\ny = 3.0\n[mission]\nwaypoints = [[17.0, 3.0]]\n'
        '[criteria]\nmin_clearance_m = 0.1\nmax_time_s = 120\n')
    sc = load_scenario(tmp_path / "sc.toml")
    r = run_lockstep(sc)
    assert r.passed, r.reasons
    # It had to go round the north end of the wall (y > 11 m).
    assert r.track[:, 2].max() > 11.0


def _yaml_for(tmp_path, image: str):
    y = tmp_path / (image + ".yaml")
    y.write_text(f"image: {image}\nresolution: 0.5\norigin: [0, 0, 0]\n")
    return y


def test_pgm_reader_agrees_with_opencv_and_reads_plain_and_16_bit(tmp_path):
    import cv2

    rng = np.random.default_rng(4)
    img = rng.choice(np.array([0, 100, 205, 254], np.uint8), size=(23, 31))
    cv2.imwrite(str(tmp_path / "a.pgm"), img)
    # a comment in the header, as GIMP and map_saver write
    raw = (tmp_path / "a.pgm").read_bytes()
    (tmp_path / "b.pgm").write_bytes(b"P5\n# CREATOR: map_saver\n31 23\n255\n" + raw[-31 * 23:])
    assert cv2.imwrite(str(tmp_path / "a.png"), img)
    via_cv2 = load_map_server(_yaml_for(tmp_path, "a.png"))      # PNG: read through OpenCV
    for name in ("a.pgm", "b.pgm"):
        m = load_map_server(_yaml_for(tmp_path, name))
        assert np.array_equal(m.occupied, via_cv2.occupied) and np.array_equal(m.unknown, via_cv2.unknown)
    # plain (ASCII) P2 and 16-bit P5 scale by their own maxval
    plain = "P2\n3 2\n10\n0 10 5\n10 10 0\n"
    (tmp_path / "p.pgm").write_text(plain)
    m = load_map_server(_yaml_for(tmp_path, "p.pgm"))
    assert m.occupied.tolist() == [[False, False, True], [True, False, False]]   # row 0 = last image line
    assert m.unknown.tolist() == [[False, False, False], [False, False, True]]
    wide = np.array([[0, 65535], [40000, 65535]], ">u2")
    (tmp_path / "w.pgm").write_bytes(b"P5 2 2 65535\n" + wide.tobytes())
    m = load_map_server(_yaml_for(tmp_path, "w.pgm"))
    assert m.occupied.tolist() == [[False, False], [True, False]]


@pytest.mark.parametrize("content, message", [
    (b"P5\n31 23\n255\n" + bytes(100), "raster truncated: 100 bytes for 31 x 23 pixels, expected 713"),
    (b"P5\n31\n", "header ends early"),
    (b"P5\n0 23\n255\n", "width 0, height 23"),
    (b"P2\n2 1\n9\n3 12\n", "pixel value above maxval 9"),
    (b"P2\n2 1\n9\n3 x\n", "non-number"),
])
def test_malformed_pgm_names_the_file_and_the_problem(tmp_path, content, message):
    (tmp_path / "bad.pgm").write_bytes(content)
    with pytest.raises(MapFileError, match=r"bad\.pgm\.yaml: 'image' 'bad\.pgm': .*" + message.replace(".", r"\.")):
        load_map_server(_yaml_for(tmp_path, "bad.pgm"))
