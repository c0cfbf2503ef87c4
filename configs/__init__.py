"""Shipped vehicle, scenario, map and mission files (package data, no code).

Installed, this folder is ``edgepilot.configs``; read it through
``edgepilot.configs_dir()`` so a wheel install finds the same files as a
source checkout."""
