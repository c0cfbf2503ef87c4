"""Several vehicles in one simulated world: the fleet scenario file, the
shared world (domain rasters, vehicles seeing each other), the simulated
vehicle-to-vehicle link, task allocation in the loop, the lockstep fleet
runner and its reports.  Built beside the single-vehicle runner
(``sim/lockstep.py``), reusing one ``Simulation`` per vehicle."""
