"""The simulator: worlds, dynamics, sensor models, faults, runners."""


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the simulator's own kernels
    (world queries, fleet separation); the sensors warm theirs in
    ``sim.sensors``."""
    from edgepilot.sim._kernels import warm_sim_kernels as _warm

    _warm()
