"""CPU time a process has used, from /proc (Linux)."""
import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time process `pid` has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
