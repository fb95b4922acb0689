"""Helpers shared by the benchmark scripts in tools/bench (import with tools/bench on sys.path)."""
import resource
import subprocess
import time


def timed(command):
    """Runs `command`; returns (wall seconds, CPU seconds of the child: user + system, CompletedProcess).
    CPU time as well as wall: on a loaded machine the CPU time is the fairer comparison."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done
