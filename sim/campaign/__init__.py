"""Campaigns: many randomised lockstep runs of one or more scenarios, on all
local cores (a process pool) or a Ray cluster, streamed to a JSON-lines
results file that a campaign resumes from, with statistics and a report.

``spec`` (the spec file, deterministic sampling, the run plan), ``worker``
(one run -> one row), ``runner`` (pool and Ray backends), ``results`` (the
results file), ``report`` (statistics, plots, HTML), ``cli``.
"""
from edgepilot.sim.campaign.spec import Campaign, RunPlan, load_campaign  # noqa: F401
