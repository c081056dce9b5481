"""One process of ``jaxrelu bench``'s process-per-core jaxrelu run (:class:`jaxrelu.bench.peers.JaxReluProcs`).

``python -m jaxrelu.bench._procrun STUDY_JSON META_JSON --coordinator HOST:PORT
--num-processes N --process-id I`` (the arguments :func:`jaxrelu.engine.devices.launch_cpu_processes`
appends) joins the run, runs the study, and process 0 writes the results' meta to META_JSON.
"""

from __future__ import annotations

import argparse
import json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxrelu.bench._procrun")
    p.add_argument("study")
    p.add_argument("meta")
    p.add_argument("--coordinator", required=True)
    p.add_argument("--num-processes", type=int, required=True)
    p.add_argument("--process-id", type=int, required=True)
    a = p.parse_args(argv)
    from jaxrelu import config, engine

    engine.init_distributed(a.coordinator, a.num_processes, a.process_id)
    import jax

    import jaxrelu

    with open(a.study) as f:
        res = jaxrelu.run(config.from_dict(json.load(f)))
    if jax.process_index() == 0:
        with open(a.meta, "w") as f:
            json.dump(
                {
                    k: res.meta[k]
                    for k in (
                        "run_seconds",
                        "compile_seconds",
                        "chunks",
                        "chunk_size",
                        "trajectory_steps_per_second",
                        "seeds",
                        "grid_shape",
                    )
                },
                f,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
