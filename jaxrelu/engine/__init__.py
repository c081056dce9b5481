"""The engine: compile and run a study, every seed × grid point in one compiled program
(the run read top to bottom: :mod:`.loop`).

Randomness.  Trajectory k draws everything from ``seed_key(k) =
fold_in(seeds_key, k)`` with ``seeds_key, shared_key = split(PRNGKey(seed))``:
its initialisation from ``fold_in(seed_key, 0)``, its training set from
``fold_in(seed_key, 1)``, its epoch permutations from ``fold_in(seed_key, 2)``,
the noise of step t from ``fold_in(fold_in(seed_key, 3), t)``, and (online SGD)
the inputs of steps BLOCK·b .. BLOCK·b + BLOCK − 1 as the rows of one draw
``normal(kx, (BLOCK, B, d))``, ``kx, kn = split(fold_in(fold_in(seed_key, 4), b))``
(``kn``: the data-noise normals, (BLOCK, B)), BLOCK = 8.  A step computes only
its own rows (each threefry word hashes its own counter), so no block is
stored.  Nothing
depends on the chunk, the vmap width or the device count, and nothing depends
on grid values: seed k sees the same initial directions and the same samples
at every grid point (common random numbers).  Every draw goes through
:mod:`jaxrelu.rng`, which returns what ``jax.random`` returns, bit for bit, in
code that XLA fuses.

Per seed, then per grid point.  SGD's batch of step t is made once per seed,
from a per-seed cache in the loop carry (online: the keys of step t's block; a
finite set with a fixed batch size: the permutations of its epochs, drawn once
per epoch), and broadcast over the seed's grid points.

Hyperparameters are traced arrays of shape (G,) (one entry per grid point), so
a new grid value never recompiles; programs are cached per :class:`Program` (shapes,
switches and registered entries) and chunk shape.

One job per module, in the order of the data path:

* :mod:`.program`     the static :class:`Program` of a study (entries resolved from the registries);
* :mod:`.trajectory`  one trajectory at one grid point: init, step, observe (its key streams);
* :mod:`.batching`    SGD's batch of step t, made once per seed (online blocks, epoch permutations);
* :mod:`.segment`     seeds × grid: vmaps, the fori_loop of a record segment, statistics on device;
* :mod:`.compile`     ahead-of-time compilation, cached per program and chunk shape;
* :mod:`.chunking`    chunk sizes from the memory model;
* :mod:`.devices`     CPU devices per core, multi-process start-up;
* :mod:`.accumulators` host-side statistics, merged chunk by chunk and across processes;
* :mod:`.checkpoint`  checkpoint files;
* :mod:`.loop`        the run: chunks × segments, progress, interruption, results.
"""

from jaxrelu.engine.batching import BLOCK
from jaxrelu.engine.chunking import chunk_size
from jaxrelu.engine.devices import cpu_cores, init_distributed, use_cpu_cores
from jaxrelu.engine.loop import initial_params, run, trace_observables
from jaxrelu.engine.program import Program, build
from jaxrelu.engine.trajectory import BLOCKS, DATA, INIT, SHUFFLE, STEPS

__all__ = [
    "BLOCK",
    "BLOCKS",
    "DATA",
    "INIT",
    "SHUFFLE",
    "STEPS",
    "Program",
    "build",
    "chunk_size",
    "cpu_cores",
    "init_distributed",
    "initial_params",
    "run",
    "trace_observables",
    "use_cpu_cores",
]
