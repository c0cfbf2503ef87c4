"""A ``python -c`` program that runs the real ``edgepilot`` CLI with an
injected fault: the mission executor raises once the mission reaches item 2.
Used by the containment tests of the lockstep and the real-time runs."""
from __future__ import annotations

import textwrap

MISSION_FAULT_HOOK = textwrap.dedent("""
    import sys
    from edgepilot.vehicle.mission.executor import MissionExecutor
    real = MissionExecutor.current_target
    def failing(self):
        if self.current >= 2:
            raise RuntimeError("injected mission fault")
        return real(self)
    MissionExecutor.current_target = failing
    from edgepilot.cli import main
    sys.exit(main(sys.argv[1:]))
""")
