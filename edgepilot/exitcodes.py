"""Process exit codes of the whole ``edgepilot`` command, defined once.

Every subcommand (``sitl``, ``vehicle``, ``warm``, ``gcs``) exits with one
of these; README.md and every ``--help`` epilog show :data:`TABLE`.
Standard library only, so that ``edgepilot.gcs`` (which imports nothing
else of edgepilot) may import it.

    0    success
    1    failed or refused (a scenario's pass criteria not met; the vehicle
         refused a command or transfer)
    2    bad usage or a bad input file (config, scenario, map, mission,
         fence, parameter or log file); nothing was run or sent
    3    gcs: no heartbeat from the vehicle, or the endpoint could not be opened
    4    gcs: the vehicle stopped answering in the middle of an operation
    130  interrupted (Ctrl-C or SIGTERM in the middle of an operation)
"""
from __future__ import annotations

OK = 0
#: Ran and failed (scenario criteria not met), or the vehicle refused.
FAILED = 1
#: Bad usage or a bad input file; nothing was run or sent.
USAGE = 2
#: gcs: no heartbeat within the timeout, or the endpoint could not be opened.
NO_LINK = 3
#: gcs: the vehicle was heard but stopped answering mid-operation.
NO_ANSWER = 4
#: Interrupted by the operator (128 + SIGINT, as shells report it).
INTERRUPTED = 130

#: (code, meaning) in order; the single source of the help and README text.
CODES: tuple[tuple[int, str], ...] = (
    (OK, "success"),
    (FAILED, "failed or refused: a scenario's pass criteria not met, or the vehicle refused "
             "(MAV_RESULT / mission result printed with its STATUSTEXT reason)"),
    (USAGE, "bad usage or a bad input file (config, scenario, map, mission, fence, parameter, log); "
            "nothing was run or sent"),
    (NO_LINK, "gcs: no heartbeat from the vehicle within --timeout, or the endpoint could not be opened"),
    (NO_ANSWER, "gcs: the vehicle stopped answering mid-operation (no ACK / transfer stalled)"),
    (INTERRUPTED, "interrupted by Ctrl-C or SIGTERM"),
)


def table(indent: str = "  ", width: int = 79) -> str:
    """The exit-code table as ``--help`` epilogs print it (wrapped to ``width``)."""
    import textwrap

    out = ["exit codes:"]
    for code, text in CODES:
        head = f"{indent}{code:<4d} "
        out += textwrap.wrap(text, width, initial_indent=head, subsequent_indent=" " * len(head))
    return "\n".join(out) + "\n"


TABLE = table()

__all__ = ["CODES", "FAILED", "INTERRUPTED", "NO_ANSWER", "NO_LINK", "OK", "TABLE", "USAGE", "table"]
