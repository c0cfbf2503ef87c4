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
                    np.zeros(T), np.zeros(T, np.int64), 0, np.zeros(T, np.int64), 0, np.inf, -1, 0.5, 0.0,
                    np.full(T, 50.0), 1.0)
    K.improve_route_kernel(np.ones(T), np.ones((T, T)), np.zeros(T), np.zeros(T), np.full(T, np.inf), r, np.inf, 5)
    K.improve_route_latency_kernel(np.ones(T), np.ones((T, T)), np.zeros(T), np.zeros(T), np.full(T, np.inf), r,
                                   np.inf, 5, 1.0)
    from edgepilot.vehicle.fleet import _path_kernels as P

    P.path_field_kernel(np.array([np.inf] * 5 + [1.0, 1.0] + [np.inf] * 2 + [1.0, 1.0] + [np.inf] * 5), 4, 5,
                        np.array([10], np.int64), 4, np.empty(16), np.empty(16, np.int32), np.empty(16, np.int32),
                        np.empty(16, np.int32))
