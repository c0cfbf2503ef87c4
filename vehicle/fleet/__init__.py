"""Fleet task logic of one vehicle: the task model, allocation costs, the
decentralised auction (CBBA), the greedy baseline.  Pure: no sockets, no
clock (time is passed in); the central OR-Tools plan lives in
``edgepilot.fleet`` because it needs a solver the vehicle does not carry."""
