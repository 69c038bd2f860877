"""Multi-process data parallel on one machine (JAX, CPU): is it worth it, and what does the
gradient exchange cost?

Three setups train the same model on the same global batch, each in fresh processes:

* ``1x2``: one process on two cores (XLA's CPU thread pool, pinned to cores 0-1);
* ``2x1``: two processes of one core each (``--local-processes``' variables, gloo
  all-reduce over 127.0.0.1), each pinned to its own core;
* ``1x1-half``: one process on one core with half the batch: the compute each process of
  ``2x1`` does, so ``2x1`` minus ``1x1-half`` is the exchange and synchronisation cost.

The all-reduce of one gradient's worth of float32 (every trainable weight) between the two
processes is also timed alone. Run it when the machine is quiet::

    python benchmarks/distributed.py [--steps 30] [--hparams "..."]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sketchart.training.launcher import free_ports, worker_env  # noqa: E402

__all__ = ["main"]

HPARAMS = ("enc_rnn_size=128,dec_rnn_size=256,z_size=32,num_mixture=10,batch_size=64,"
           "max_seq_len=100")

WORKER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import keras
    from sketchart.data.datasets import BatchLoader, load_npz
    from sketchart.hparams import HParams
    from sketchart.nn.model import SketchRNN
    from sketchart.training.step import TrainStep

    data, text, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    hps = HParams().parse(text)
    cluster = None
    scope, strategy, dist = keras.name_scope("bench"), None, None
    if os.environ.get("SKETCHART_NUM_PROCESSES"):
        from sketchart.training.distributed import join_cluster
        cluster = join_cluster()
        strategy, dist, scope = cluster.parallel(hps.batch_size)
    sheep = load_npz(data)
    loader = BatchLoader(sheep.train, batch_size=hps.batch_size,
                         max_seq_len=hps.max_seq_len, scale_factor=18.5, seed=0)
    with scope:
        model = SketchRNN(hps, seed=0)
        opt = keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-8)
        step = TrainStep(model, opt, hps, strategy=strategy, distribution=dist)
    batches = [loader.random_batch() for _ in range(4)]
    for b in batches[:2]:
        step.train(b.strokes5, b.lengths, 1e-3, 0.1)
    t0 = time.perf_counter()
    for i in range(steps):
        b = batches[i % 4]
        step.train(b.strokes5, b.lengths, 1e-3, 0.1)
    rate = steps / (time.perf_counter() - t0)
    reduce_ms = float("nan")
    if cluster is not None:
        import jax
        from jax.sharding import NamedSharding, PartitionSpec
        n = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
        mesh = dist.device_mesh.backend_mesh
        rows = NamedSharding(mesh, PartitionSpec("batch"))
        local = np.ones((1, n), np.float32)
        grads = jax.make_array_from_process_local_data(rows, local)
        total = jax.jit(lambda a: a.sum(0), out_shardings=NamedSharding(mesh, PartitionSpec()))
        total(grads).block_until_ready()
        t0 = time.perf_counter()
        for _ in range(20):
            total(grads).block_until_ready()
        reduce_ms = (time.perf_counter() - t0) / 20 * 1e3
    if cluster is None or cluster.is_chief:
        print(f"RESULT steps_per_s={rate:.3f} allreduce_ms={reduce_ms:.2f} "
              f"params={sum(int(np.prod(v.shape)) for v in model.trainable_variables)}")
""")


def _threads(n: int) -> dict[str, str]:
    one = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    flags = "" if n > 1 else one
    return {"XLA_FLAGS": flags, "KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": "",
            "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(n),
            "PYTHONPATH": str(ROOT)}


def _run(cores: list[str], count: int, data: str, text: str, steps: int, threads: int
         ) -> str:
    ports = free_ports(count + 1)
    procs = []
    for pid in range(count):
        env = {**os.environ, **_threads(threads)}
        if count > 1:
            env = worker_env(pid, count, ports, env)
        procs.append(subprocess.Popen(
            ["taskset", "-c", cores[pid], sys.executable, "-c", WORKER, data, text,
             str(steps)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    outs = [p.communicate(timeout=1800) for p in procs]
    for proc, (_, err) in zip(procs, outs):
        if proc.returncode:
            raise SystemExit(err[-3000:])
    line = next(ln for out, _ in outs for ln in out.splitlines() if ln.startswith("RESULT"))
    return line.removeprefix("RESULT ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--hparams", default=HPARAMS)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sketchrnn"
                                              / "aaron_sheep.npz"))
    args = parser.parse_args()
    batch = int(re.search(r"batch_size=(\d+)", args.hparams).group(1))  # type: ignore[union-attr]
    half = re.sub(r"batch_size=\d+", f"batch_size={batch // 2}", args.hparams)
    print(f"hparams: {args.hparams}; {args.steps} timed steps")
    print("1x2      :", _run(["0,1"], 1, args.data, args.hparams, args.steps, 2))
    print("2x1      :", _run(["0", "1"], 2, args.data, args.hparams, args.steps, 1))
    print("1x1-half :", _run(["0"], 1, args.data, half, args.steps, 1))


if __name__ == "__main__":
    main()
