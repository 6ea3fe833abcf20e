"""Roofline of the training kernels: each kernel's rate and its share of the machine's peak,
per SIMD level and thread count.

The measurements are those of ``asv_bench/benchmarks/bench_roofline.py`` (shapes of a
``batch-hard`` training step of configuration A: batch 128, 128 hidden units, a shared
candidate block of 1,247 of 10,000 output rows; Adam over 100,000 x 128 weights):
GEMM kernels in GFLOP/s against the better of OpenBLAS sgemm on a square 1024 product
and on the block's own shape, Adam kernels in GB/s against ``np.copyto`` bandwidth,
both measured on the same threads. Every rate is the best of ``--repeats`` calls.

Outputs in ``--out``: ``fig12_roofline.json``, ``fig12_roofline.png`` (share of the
peak per kernel and SIMD level) and the docs table (``doc_tables``).

    python -m paper_figures.fig12_roofline                    # ~2 min on 2 cores
    python -m paper_figures.fig12_roofline --threads 1,2 --repeats 9
    python -m paper_figures.fig12_roofline --smoke            # seconds
"""
import os

from paper_figures import _common

#: kernels in table order, with their unit
KERNELS = [("block_forward", "GFLOP/s"), ("block_backward", "GFLOP/s"),
           ("block_backward_adam", "GFLOP/s"), ("dense_forward", "GFLOP/s"),
           ("dense_backward", "GFLOP/s"), ("sampled_forward", "GFLOP/s"),
           ("sampled_backward", "GFLOP/s"), ("adam_step", "GB/s"), ("lazy_adam", "GB/s"),
           ("adam_catchup_rows", "GB/s")]


def measure(threads, repeats, smoke):
    """``{n_threads: roofline()}`` for each thread count (see ``bench_roofline.roofline``)."""
    from asv_bench.benchmarks import bench_roofline as R
    shapes = R.SMOKE_SHAPES if smoke else R.SHAPES
    return {str(n): R.roofline(shapes=shapes, repeats=repeats, n_threads=n) for n in threads}


def shares(run):
    """``{level: {kernel: % of its peak}}`` of one thread count's measurements."""
    from asv_bench.benchmarks.bench_roofline import peak_for
    return {level: {k: 100 * rate / peak_for(k, run["peaks"]) for k, rate in rates.items()}
            for level, rates in run["levels"].items()}


def doc_tables(data):
    """One table: peaks, then every kernel's rate and share of its peak per SIMD level."""
    runs = data["runs"]
    levels = list(next(iter(runs.values()))["levels"])
    lines = ["| threads | kernel (unit) | " + " | ".join(levels) + " |",
             "|---|---|" + "---|" * len(levels)]
    for n, run in runs.items():
        p = run["peaks"]
        lines.append(f"| {n} | peaks: sgemm square / block shape (GFLOP/s), copy (GB/s) | "
                     + " | ".join([f"{p['gemm']:.1f} / {p['gemm_block']:.1f}, "
                                   f"{p['copy']:.1f}"] + [""] * (len(levels) - 1)) + " |")
        pct = shares(run)
        for kernel, unit in KERNELS:
            cells = [f"{run['levels'][lv][kernel]:.1f} ({pct[lv][kernel]:.0f}%)"
                     for lv in levels]
            lines.append(f"| {n} | {kernel} ({unit}) | " + " | ".join(cells) + " |")
    return {"fig12": "\n".join(lines)}


def plot(data, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    runs = data["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 4), squeeze=False)
    names = [k for k, _ in KERNELS]
    for ax, (n, run) in zip(axes[0], runs.items()):
        pct = shares(run)
        width = 0.8 / len(pct)
        for i, (level, by_kernel) in enumerate(pct.items()):
            ax.bar(np.arange(len(names)) + i * width, [by_kernel[k] for k in names], width,
                   label=level)
        ax.axhline(60, color="gray", lw=0.8, ls="--")
        ax.axhline(70, color="gray", lw=0.8, ls=":")
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("% of the machine peak")
        ax.set_title(f"{n} thread(s)")
        ax.legend(fontsize=8)
    return _common.save_figure(fig, path)


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    if args.smoke:
        args.repeats = 1
    data = {"runs": measure(threads, args.repeats, args.smoke), "smoke": args.smoke}
    _common.save_json(data, args.out, "fig12_roofline.json", n_threads=max(threads),
                      argv=argv)
    print(doc_tables(data)["fig12"])
    print(f"wrote {plot(data, os.path.join(args.out, 'fig12_roofline.png'))}")


if __name__ == "__main__":
    main()
