"""Fleet planning that needs more than a vehicle carries: the central
allocation with OR-Tools' routing solver.

Why here and not in ``edgepilot.gcs`` or ``edgepilot.vehicle``: the plan is
priced with our planner's path lengths (``edgepilot.vehicle.planning``),
which the ground-station package may not import (it speaks MAVLink only),
and OR-Tools is a large native dependency the pure core running on the
vehicle should not need.  This package imports only ``edgepilot.vehicle``
(and ortools); the CLI layer (``edgepilot gcs fleet plan``) and the
simulator's fleet scenarios both call it.
"""
