"""Traffic reaches the core's sensor frames intact: AIS contacts pass
through fault injection (``FaultInjector.sense`` keeps every field it does
not fault)."""
import dataclasses

import numpy as np

from edgepilot import configs_dir
from edgepilot.sim.scenario import load_scenario
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.types import ActuatorCommand, CompassReading, ContactReport, GpsFix, LaserScan, SensorFrame

HEAD_ON = (configs_dir() / "scenarios" / "usv_colregs_head_on.toml").read_text()


def scenario_with(tmp_path, extra: str):
    p = tmp_path / "s.toml"
    p.write_text(HEAD_ON + "\n" + extra)
    return load_scenario(p)


def test_sense_keeps_every_field_it_does_not_fault(tmp_path):
    sim = Simulation(scenario_with(tmp_path, ""))
    full = SensorFrame(
        t=1.0, gps=GpsFix(1.0, 54.4, 10.2, 3, 12, 0.5), compass=CompassReading(1.0, 0.3),
        scan=LaserScan(1.0, -1.0, 0.1, 30.0, np.ones(21, np.float32)), battery_v=12.1,
        battery_remaining=0.8, contacts=(ContactReport(1.0, "ais", 211000101, 54.4, 10.2),),
        camera_t=1.0)
    out = sim.faults.sense(1.0, full)
    for f in dataclasses.fields(SensorFrame):
        if f.name == "motor":          # the injector adds the motor controller's telemetry
            assert out.motor is not None
            continue
        assert getattr(out, f.name) is getattr(full, f.name), f.name


def test_ais_contacts_survive_a_gps_dropout_and_the_dropout_still_applies(tmp_path):
    sc = scenario_with(tmp_path, '[[faults]]\ntype = "gps_dropout"\nstart_s = 0\nduration_s = 30\n'
                                 'mode = "silent"\n')
    sim = Simulation(sc)
    reports, gps = [], []
    for k in range(100):                      # 10 s at 10 Hz
        t = 0.1 * k
        f = sim.sensors(t)
        reports += list(f.contacts or ())
        gps.append(f.gps)
        for _ in range(10):
            sim.step(0.01, ActuatorCommand.stop())
    assert all(g is None for g in gps)
    pos = [r for r in reports if r.source == "ais" and r.lat is not None]
    assert len(pos) >= 2 and {r.id for r in pos} == {211000101}
