"""Fleet task logic of one vehicle: the task model, allocation costs, the
decentralised auction (CBBA), the greedy baseline.  Pure: no sockets, no
clock (time is passed in); the central OR-Tools plan lives in
``edgepilot.fleet`` because it needs a solver the vehicle does not carry."""


def warm_kernels() -> None:
    """Compile (or load from numba's cache) the auction kernels on tiny inputs."""
    import numpy as np

    from edgepilot.vehicle.fleet import _cbba_kernels as K

    T = 2
    z = np.full(T, -1, np.int64)
    K.insertion_kernel(np.ones(T), np.ones((T, T)), np.zeros(T), np.zeros(T), np.full(T, np.inf),
                       np.zeros(T), np.ones(T, np.bool_), np.ones(T, np.bool_), np.zeros(0, np.int64),
                       1.0, np.inf, np.empty(T), np.empty(T, np.int64))
    K.consensus_kernel(0, 1, z.copy(), np.zeros(T), np.zeros(2), z.copy(), np.zeros(T), np.zeros(2))
    r = np.array([1, 0], np.int64)
    K.bundle_kernel(0, np.ones(T), np.ones((T, T)), np.zeros(T), np.zeros(T), np.full(T, np.inf), np.zeros(T),
                    np.ones(T, np.bool_), np.ones(T, np.bool_), 1.0, np.inf, np.full(T, 100.0), z.copy(),
                    np.zeros(T), np.zeros(T, np.int64), 0, np.zeros(T, np.int64), 0, np.inf, -1)
    K.improve_route_kernel(np.ones(T), np.ones((T, T)), np.zeros(T), np.zeros(T), np.full(T, np.inf), r, np.inf, 5)
    from edgepilot.vehicle.fleet import _path_kernels as P

    P.path_field_kernel(np.ones((2, 2), np.float32), 0, 0, np.array([3], np.int64), np.empty(4),
                        np.empty(4, np.int64), np.empty(4, np.int32))
