"""Checkpoint files of a run: its position, statistics and state, and each finished chunk's
per-seed arrays (written once), all written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from jaxrelu.engine.accumulators import Accumulators
from jaxrelu.results import ResultsError, _atomic_write


def save_checkpoint(path: Path, acc: Accumulators, position: dict, state, rows: slice) -> None:
    """The run's position, its statistics and (mid-chunk) the chunk's state; of the per-seed
    arrays only the current chunk's ``rows`` (finished chunks are in their own files)."""
    arrays = {f"acc.{k}": v[rows] if k in acc.PER_SEED else v for k, v in acc.arrays.items()}
    if state is not None:
        for i, leaf in enumerate(jax.tree.leaves(state)):
            arrays[f"state.{i}"] = np.asarray(jax.device_get(leaf))
    arrays["position"] = np.asarray(json.dumps(position))
    path.mkdir(parents=True, exist_ok=True)
    _atomic_write(path / checkpoint_name(), lambda f: np.savez(f, **arrays))


def save_chunk(path: Path, acc: Accumulators, c: int, rows: slice, fingerprint: str) -> None:
    """The per-seed arrays of finished chunk c, written once."""
    arrays = {f"acc.{k}": acc.arrays[k][rows] for k in acc.PER_SEED if k in acc.arrays}
    arrays["fingerprint"] = np.asarray(fingerprint)
    path.mkdir(parents=True, exist_ok=True)
    _atomic_write(path / chunk_name(c), lambda f: np.savez(f, **arrays))


def load_checkpoint(path: Path, acc: Accumulators, fingerprint: str):
    """(position, state leaves) of the checkpoint in ``path``; the statistics go into ``acc``,
    the per-seed arrays of the current chunk too (those of finished chunks: :func:`load_chunks`)."""
    file = path / checkpoint_name()
    try:
        with np.load(file, allow_pickle=False) as z:
            position = json.loads(str(z["position"]))
            saved = {k: z[f"acc.{k}"] for k in acc.arrays}
            leaves = [
                z[k] for k in sorted((k for k in z.files if k.startswith("state.")), key=lambda k: int(k.split(".")[1]))
            ]
    except Exception as e:  # noqa: BLE001 - a damaged file is reported, never half-used
        raise ResultsError(f"{str(file)!r}: corrupt checkpoint ({type(e).__name__}: {e})") from None
    if position.get("fingerprint") != fingerprint:
        raise _foreign(file)
    size, c = position["chunk_size"], position["chunk"]
    for k, v in saved.items():
        if k in acc.PER_SEED:
            acc.arrays[k][c * size : c * size + len(v)] = v
        else:
            acc.arrays[k] = v
    return position, leaves


def load_chunks(path: Path, acc: Accumulators, chunks, size: int, fingerprint: str) -> None:
    """The per-seed arrays of the finished ``chunks`` into ``acc``."""
    S = acc.arrays["fpt"].shape[0]
    for c in chunks:
        file, rows = path / chunk_name(c), slice(c * size, min((c + 1) * size, S))
        try:
            with np.load(file, allow_pickle=False) as z:
                written_by = str(z["fingerprint"])
                saved = {k: z[f"acc.{k}"] for k in acc.PER_SEED if k in acc.arrays}
        except Exception as e:  # noqa: BLE001 - a damaged file is reported, never half-used
            raise ResultsError(
                f"{str(file)!r}: corrupt or missing chunk checkpoint ({type(e).__name__}: {e})"
            ) from None
        if written_by != fingerprint:
            raise _foreign(file)
        for k, v in saved.items():
            acc.arrays[k][rows] = v


def _foreign(file: Path) -> ResultsError:
    return ResultsError(f"{str(file)!r} was written by a different study; refusing to resume from it")


def checkpoint_name() -> str:
    """``checkpoint.npz``, or one file per process under jax.distributed."""
    return "checkpoint.npz" if jax.process_count() == 1 else f"checkpoint.p{jax.process_index()}.npz"


def chunk_name(c: int) -> str:
    """The file of finished chunk c's per-seed arrays (chunks belong to one process each)."""
    return f"checkpoint.chunk{c:05d}.npz"
