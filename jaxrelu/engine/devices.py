"""Devices and processes: one JAX CPU device per core, and multi-process start-up."""

from __future__ import annotations

import os

import jax


def cpu_cores() -> list[int]:
    """The cores this process may run on, sorted (its CPU affinity: taskset, SLURM, cgroups)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def use_cpu_cores(n: int | None = None) -> int:
    """Give JAX one CPU device per core (``jax_num_cpu_devices``, default ``len(cpu_cores())``).

    The engine shards each chunk's seeds over the local devices, so every core then
    runs its own seeds' fused loops, instead of one device splitting each small
    operation across threads and synchronising after it: 1.2x on W1 and 1.5x on W4
    on the 2-core development machine (``jaxrelu bench``, docs/performance.md).  The ``jaxrelu``
    command calls this; from Python call it before JAX's first computation.  Per-seed
    trajectories are bitwise the same on any device count; statistics agree to
    float32 rounding (each device sums its own seeds).  Does nothing once JAX's
    backend is running, or when ``JAX_NUM_CPU_DEVICES`` or
    ``--xla_force_host_platform_device_count`` already chose.  Returns the count asked for
    (or 0 when it left JAX alone).
    """
    if "JAX_NUM_CPU_DEVICES" in os.environ or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return 0
    n = n or len(cpu_cores())
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # the backend is already running
        return 0
    return n


def init_distributed(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join a multi-process run (``jax.distributed.initialize``).

    Without arguments JAX detects the cluster (SLURM, TPU pods, Open MPI, ...).
    On CPU the processes exchange statistics through gloo collectives.  Each
    process simulates every P-th chunk of seeds; statistics are merged exactly.
    """
    # jax's Config stub lacks the flag attributes (jax.config.jax_platforms): hence the ignore
    if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(jax.config.jax_platforms):  # type: ignore[attr-defined]
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)


def launch_cpu_processes(n: int, args: list[str], stdout=None) -> int:
    """``python ARGS --coordinator HOST:PORT --num-processes n --process-id i`` for i < n.

    ``ARGS`` is ``-m jaxrelu run ...`` for ``jaxrelu run --cpu-processes n``: one
    multi-process run on this machine.  Process i runs on the i-th core this process
    may use (its CPU affinity), with one JAX CPU device, and the processes meet at a
    coordinator on localhost (the ``--coordinator`` path: chunks dealt out,
    statistics merged exactly, process 0 writes).  Steadier than n devices in one
    process, where a device's execute thread can share the cores with XLA's n
    intra-op workers (docs/performance.md).  ``stdout``: where the processes' standard
    output goes (``subprocess.Popen``'s; default this process's).  Returns the first
    non-zero exit code, after stopping the other processes.
    """
    import socket
    import subprocess
    import sys
    import time

    from jaxrelu.config import ConfigError

    cores = cpu_cores()
    if not 1 <= n <= len(cores):
        raise ConfigError(f"--cpu-processes must be between 1 and the {len(cores)} cores this process may use, got {n}")
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1", "JAX_PLATFORMS": "cpu"}
    pin = hasattr(os, "sched_setaffinity")
    procs = []
    for i in range(n):  # a child starts with the affinity of the thread that spawns it
        if pin:
            os.sched_setaffinity(0, {cores[i]})
        try:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        *args,
                        "--coordinator",
                        f"localhost:{port}",
                        "--num-processes",
                        str(n),
                        "--process-id",
                        str(i),
                    ],
                    env=env,
                    stdout=stdout,
                )
            )
        finally:
            if pin:
                os.sched_setaffinity(0, cores)
    code = 0
    try:
        while any(p.poll() is None for p in procs) and not code:
            code = next((p.returncode for p in procs if p.returncode), 0)
            time.sleep(0.1)
    except KeyboardInterrupt:  # the terminal interrupted the children too: let them checkpoint
        code = 130
    finally:
        if code and code != 130:
            for p in procs:
                p.terminate()
        for p in procs:
            p.wait()
    return code or next((p.returncode for p in procs if p.returncode), 0)
