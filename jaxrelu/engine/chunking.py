"""Chunk sizes: how many seeds one compiled call runs, from the memory model."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxrelu import dynamics, tasks
from jaxrelu.config import SWEEPABLE, Study
from jaxrelu.engine import batching


def n_params(prog) -> int:
    """Parameters of one trajectory."""
    return prog.width * prog.task.input_dim + prog.width * (2 + prog.bias)


def opt_state_copies(prog) -> float:
    """One trajectory's optimiser state in copies of its parameters (0 for plain SGD, 1 with
    momentum, 2 and a count for Adam), from the shapes its optimiser's ``init`` returns."""
    d, m = prog.task.input_dim, prog.width
    shapes = {"W": (m, d), "a": (m,), **({"b": (m,)} if prog.bias else {})}
    params = {k: jax.ShapeDtypeStruct(v, jnp.dtype(prog.dtype)) for k, v in shapes.items()}
    hp = {k: jax.ShapeDtypeStruct((), jnp.dtype(prog.dtype)) for k in SWEEPABLE}
    state = jax.eval_shape(lambda p, h: dynamics.init_state(prog.step, p, h), params, hp)
    size = lambda tree: sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))  # noqa: E731
    return size(state) / size(params)


def bytes_per_seed(prog, study: Study) -> int:
    """Device bytes one seed (all its grid points) needs while stepping: the memory model."""
    item = jnp.dtype(prog.dtype).itemsize
    d, m, G = prog.task.input_dim, prog.width, prog.grid_size
    n_par = n_params(prog)
    copies = 3 + prog.needs_init  # params, grads, updates (and the initial params)
    rows = max(prog.task.batch_max * max(d.rows for d in prog.step.methods), prog.task.population_rows)
    per_traj = n_par * (copies + opt_state_copies(prog)) + rows * (d + 4 * m)
    closed_only = prog.ctx.closed_form and len(prog.observables) == 1
    eval_rows = prog.task.train_size or (0 if closed_only else prog.task.test_size)
    per_traj += 3 * eval_rows * m
    per_seed_data = prog.task.train_size * (d + 2) if prog.task.task.inputs is not None else 0
    return int((G * per_traj + per_seed_data) * item) + cache_bytes_per_seed(prog)


def cache_bytes_per_seed(prog) -> int:
    """Bytes of a seed's batch cache in the loop carry (:func:`jaxrelu.engine.batching.cache`): the int32
    epoch permutations of a finite set, (count, n), or (G, 2, n) with a swept batch size."""
    source = batching.batch_source(prog)
    if source == "epochs":
        return 4 * tasks.epochs_spanned(prog.task, prog.task.batch_max) * prog.task.train_size
    if source == "grid_epochs":
        return 4 * prog.grid_size * 2 * prog.task.train_size
    return 0


CPU_CHUNK_TRAJECTORIES = 1024  # per CPU device at most (jaxrelu bench, W1/W3/W4)
CPU_STATE_BYTES = 4 * 2**20  # per CPU device: what a chunk's trajectories read and write at every step
CPU_MEMORY_BUDGET = 2.0  # GiB: run.memory_budget unset on a CPU
ACCELERATOR_MEMORY_FRACTION = 0.5  # run.memory_budget unset on a GPU/TPU: this fraction of the free memory


def device_free_bytes(devices=None) -> int | None:
    """Free memory of the local devices, summed: ``bytes_limit − bytes_in_use`` of each device's
    ``memory_stats()`` (what JAX's allocator may still hand out; on a GPU the limit is the
    preallocated share of the card).  ``None`` when a device reports no statistics (a CPU)."""
    total = 0
    for dev in devices if devices is not None else jax.local_devices():
        try:
            st = dev.memory_stats()
        except Exception:  # noqa: BLE001 - backends without statistics raise or return None
            st = None
        if not st or "bytes_limit" not in st:
            return None
        total += max(0, int(st["bytes_limit"]) - int(st.get("bytes_in_use", 0)))
    return total


def memory_budget_bytes(study: Study) -> int:
    """Bytes of simulation state a chunk may take (all local devices together): ``run.memory_budget``
    GiB; unset, :data:`CPU_MEMORY_BUDGET` GiB on a CPU and :data:`ACCELERATOR_MEMORY_FRACTION` of the
    local devices' free memory (:func:`device_free_bytes`) on a GPU or TPU (2 GiB where they report none)."""
    if study.run.memory_budget is not None:
        return int(study.run.memory_budget * 2**30)
    if jax.default_backend() != "cpu":
        free = device_free_bytes()
        if free:
            return int(ACCELERATOR_MEMORY_FRACTION * free)
    return int(CPU_MEMORY_BUDGET * 2**30)


def chunk_size(prog, study: Study) -> int:
    """Seeds per compiled call: ``run.chunk_size``, else from the memory budget
    (:func:`memory_budget_bytes`: ``run.memory_budget``, or from the device's memory).

    On a CPU the default also caps a chunk, per device, at :data:`CPU_CHUNK_TRAJECTORIES`
    trajectories (seeds × grid points) and at :data:`CPU_STATE_BYTES` of what they
    read and write at every step (parameters, optimiser state, and three activations
    per batch row and hidden unit), so that it stays in cache: W1's network at width
    512 steps 2.1x faster than in chunks of 1024 trajectories per device, at width
    128 2.8x; W3 (activations of 12 rows) 1.4x.  Chunks are balanced (⌈S / n_chunks⌉)
    and a multiple of the local device count; without ``run.chunk_size``, n_chunks is a
    multiple of the process count, so that every process of a multi-process run has work.
    """
    n_dev = jax.local_device_count()
    if study.run.chunk_size:
        size = study.run.chunk_size
    else:
        size = int(memory_budget_bytes(study) // bytes_per_seed(prog, study))
        if jax.default_backend() == "cpu":
            rows = max(prog.task.batch_max, prog.task.population_rows)
            item = jnp.dtype(prog.dtype).itemsize
            per_traj = int((n_params(prog) * (1 + opt_state_copies(prog)) + 3 * rows * prog.width) * item)
            per_dev = max(1, min(CPU_CHUNK_TRAJECTORIES, CPU_STATE_BYTES // per_traj))
            size = min(size, max(1, per_dev * n_dev // prog.grid_size))
    size = max(1, min(size, study.run.seeds))
    n_chunks = math.ceil(study.run.seeds / size)
    if not study.run.chunk_size:  # each process of a multi-process run gets as many chunks
        n_chunks = math.ceil(n_chunks / jax.process_count()) * jax.process_count()
    size = math.ceil(study.run.seeds / n_chunks)  # balance the chunks
    return math.ceil(size / n_dev) * n_dev
