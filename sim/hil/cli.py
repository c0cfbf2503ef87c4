"""``edgepilot sitl run --hil``."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from edgepilot.sim.hil.harness import default_hil_config, run_hil, serve_forever
from edgepilot.sim.scenario import load_scenario
from edgepilot.vehicle.config import ConfigError


def run_hil_cli(args) -> int:
    try:
        sc = load_scenario(args.scenario)
        cfg_path = Path(args.hil_config) if args.hil_config else default_hil_config(sc)
        if not cfg_path.exists():
            raise ConfigError(f"--hil-config: no file {str(cfg_path)!r}")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.serve_only:
        stop = {"flag": False}
        signal.signal(signal.SIGTERM, lambda s, f: stop.__setitem__("flag", True))
        signal.signal(signal.SIGINT, lambda s, f: stop.__setitem__("flag", True))
        try:
            serve_forever(sc, cfg_path, args.seed, lambda: stop["flag"])
        except (ConfigError, ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    quiet = getattr(args, "quiet", False)
    print(f"edgepilot HIL: {sc.name}, vehicle process on {cfg_path}", flush=True)
    try:
        res = run_hil(sc, cfg_path, seed=args.seed, on_text=None if quiet else (lambda s: print("  " + s, flush=True)))
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"result              {'PASS' if res.passed else 'FAIL'}")
    print(f"waypoints reached   {res.waypoints_reached}/{res.waypoints_total}")
    print(f"sim time            {res.sim_time_s:.1f} s")
    print(f"collisions          {res.collisions}")
    print(f"min clearance       {res.min_clearance_m:.2f} m")
    for r in res.reasons:
        print(f"FAIL reason: {r}")
    return 0 if res.passed else 1
