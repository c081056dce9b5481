"""Targets and the tables printed on screen."""

from __future__ import annotations

import math

from jaxrelu.bench.workloads import fmt_count

#: (workload, kind, peer, threshold, text).  kinds: "ratio" jaxrelu rate ÷ peer rate ≥ threshold;
#: "roofline" roofline time ÷ the time of jaxrelu (or of the implementation named as peer) ≥ threshold;
#: "matmul" jaxrelu FLOP/s ÷ matmul FLOP/s ≥ threshold;
#: "compile" jaxrelu compile seconds ≤ threshold; "memory" jaxrelu memory per trajectory ÷ its
#: parameter bytes (plain SGD keeps no optimiser state) ≤ threshold; "reference" jaxrelu rate ÷ the rate of
#: the workload's reference run (W5: the fixed largest batch), per trajectory-step, ≥ threshold.
TARGETS = (
    ("W1", "ratio", "torch_batched", 2.0, "W1 jaxrelu >= 2x batched PyTorch"),
    ("W1", "ratio", "torch_func", 3.0, "W1 jaxrelu >= 3x torch.func"),
    ("W1", "ratio", "jax_per_seed", 5.0, "W1 jaxrelu >= 5x per-seed jitted JAX"),
    ("W1", "ratio", "torch_naive", 300.0, "W1 jaxrelu >= 300x naive PyTorch loop"),
    ("W1", "roofline", None, 0.8, "W1 jaxrelu >= 80% of roofline"),
    ("W1", "roofline", "jaxrelu_procs", 0.8, "W1 jaxrelu, a pinned process per core, >= 80% of roofline"),
    ("W1", "compile", None, 5.0, "W1 compile <= 5 s"),
    ("W1", "memory", None, 2.0, "W1 memory per trajectory <= 2x its parameter bytes"),
    ("W4", "ratio", "torch_batched", 10.0, "W4 jaxrelu >= 10x batched PyTorch (same 4096 trajectories)"),
    ("W2", "matmul", None, 0.5, "W2 jaxrelu >= 50% of the matmul rate"),
    ("W3", "ratio", "torch_batched", 3.0, "W3 jaxrelu >= 3x batched PyTorch"),
    ("W5", "reference", None, 0.5, "W5 swept batch sizes >= 1/2 the fixed batch's rate"),
)


def evaluate_targets(workloads: dict) -> list[dict]:
    """Each target with its measured value and pass/fail (None when not measured)."""
    out = []
    for wk, kind, peer, thr, text in TARGETS:
        w = workloads.get(wk)
        row = {
            "workload": wk,
            "target": text,
            "kind": kind,
            "peer": peer,
            "threshold": thr,
            "value": None,
            "passed": None,
        }
        jr = (w or {}).get("impls", {}).get("jaxrelu")
        if w is None or not jr or jr.get("skipped"):
            out.append(row)
            continue
        if kind == "reference":
            row["value"] = w.get("rate_vs_reference")
        elif kind == "ratio":
            pr = w["impls"].get(peer)
            if pr and not pr.get("skipped"):
                row["value"] = jr["rate"] / pr["rate"]
        elif kind == "roofline":
            r = w["impls"].get(peer) if peer else jr
            if r and not r.get("skipped"):
                row["value"] = r["roofline_fraction"]
        elif kind == "matmul":
            row["value"] = jr["matmul_fraction"]
        elif kind == "compile":
            row["value"] = jr["compile_seconds"]
        elif kind == "memory":
            per = (jr.get("memory") or {}).get("per_traj_bytes")
            row["value"] = None if per is None else per / (4 * w["costs"]["params_per_traj"])
        if row["value"] is not None and math.isfinite(row["value"]):
            row["passed"] = bool(row["value"] <= thr) if kind in ("compile", "memory") else bool(row["value"] >= thr)
        out.append(row)
    return out


def _f(x, fmt="{:.3g}"):
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def _mib(b):
    return "-" if b is None else f"{b / 2**20:.0f}"


def _kib(b):
    if b is None:
        return "-"
    return "~0" if abs(b) < 512 else fmt_count(b / 1024)


def workload_table(key: str, w: dict) -> str:
    c = w["costs"]
    lines = [
        f"{key}  {w['title']}",
        f"    {w['describe']}  steps={w['steps']}",
        f"    per step: {c['normals_per_seed_step']} normals/seed, "
        f"{fmt_count(c['flops_per_traj_step'])} FLOP/trajectory"
        + (f" + {fmt_count(c['flops_per_seed_step'])} FLOP/seed (teacher)" if c["flops_per_seed_step"] else "")
        + f";  roofline {fmt_count(w['roofline_rate'])} trajectory-steps/s ({w['roofline_seconds']:.3g} s)",
    ]
    lim = w.get("roofline_limits")
    if lim:
        sr = ", ".join(f"{r['jax_sampler'] / 1e6:.0f}" for r in lim["rounds"])
        mr = ", ".join(f"{r['matmul'] / 1e9:.0f}" for r in lim["rounds"])
        lines.append(
            f"    roofline from the limits timed once at each round's start (medians): sampler "
            f"{lim['normals_per_second'] / 1e6:.0f} M normals/s ({sr}), matmul "
            f"{lim['flops_per_second'] / 1e9:.0f} GFLOP/s ({mr}); with the best-of limits above "
            f"{w['roofline_seconds'] / lim['roofline_seconds_at_start_limits']:.2f}x the time"
        )
    hdr = (
        f"    {'implementation':<44}{'traj-steps/s':>13}{'jaxrelu x':>10}{'roofline':>9}{'compile s':>10}"
        f"{'setup s':>8}{'peak MiB':>9}{'KiB/traj':>10}  notes"
    )
    lines += [hdr, "    " + "-" * (len(hdr) - 4)]
    for r in w["impls"].values():
        if r.get("skipped"):
            lines.append(f"    {r['label']:<44}  skipped: {r['skipped']}")
            continue
        mem = r.get("memory") or {}
        per = mem.get("per_traj_bytes")
        per_s = _kib(per)
        notes = [n for n in r.get("notes", []) if not n.startswith("torch threads")]
        if len(r.get("rates", [])) > 1:
            notes.insert(0, f"median of {len(r['rates'])} ({fmt_count(min(r['rates']))}-{fmt_count(max(r['rates']))})")
        by = mem.get("per_traj_bytes_by_program")
        if by:
            notes.append("KiB/traj by program: " + ", ".join(f"{k} {_kib(v).strip()}" for k, v in by.items()))
        notes = "; ".join(notes)
        lines.append(
            f"    {r['label']:<44}{fmt_count(r['rate']):>13}{_f(r.get('jaxrelu_speedup'), '{:.3g}'):>10}"
            f"{_f(r['roofline_fraction'], '{:.1%}'):>9}{_f(r['compile_seconds'], '{:.2f}'):>10}"
            f"{_f(r['setup_seconds'], '{:.2f}'):>8}{_mib(mem.get('peak_bytes')):>9}{per_s:>10}  {notes}"
        )
    if w.get("agreement"):
        ag = w["agreement"]
        errs = ", ".join(f"{k} {v['max_rel_err']:.1e}" for k, v in ag["peers"].items())
        lines.append(
            f"    agreement with jaxrelu ({ag['seeds']} seeds x {ag['steps']} steps, final |W|,|a|): {errs}"
            f"  -> {'OK' if ag['passed'] else 'MISMATCH'}"
        )
    return "\n".join(lines)


def targets_table(rows: list[dict], quick: bool) -> str:
    lines = ["Targets (2-core CPU)" + ("  [--quick sizes: not meaningful]" if quick else "")]
    for r in rows:
        v = r["value"]
        if v is None:
            val, res = "-", "n/a"
        elif r["kind"] in ("ratio", "reference"):
            val, res = f"{v:.3g}x", "PASS" if r["passed"] else "FAIL"
        elif r["kind"] == "compile":
            val, res = f"{v:.2f} s", "PASS" if r["passed"] else "FAIL"
        elif r["kind"] == "memory":
            val, res = f"{v:.2f}x", "PASS" if r["passed"] else "FAIL"
        else:
            val, res = f"{v:.1%}", "PASS" if r["passed"] else "FAIL"
        lines.append(f"    {r['target']:<62}{val:>10}  {res}")
    return "\n".join(lines)


def limits_table(lim: dict) -> str:
    j, t = lim["jax_sampler"], lim.get("torch_sampler")
    lines = [
        "Machine limits",
        f"    matmul (float32, {lim['matmul']['n']}^2, jnp)          "
        f"{lim['matmul']['flops_per_second'] / 1e9:8.1f} GFLOP/s",
        (
            f"    jaxrelu.rng.normal (threefry), best pattern  {j['normals_per_second'] / 1e6:8.1f} M normals/s"
            f"  ({j['seeds']} seeds x {j['steps']} steps of {tuple(j['block'])}; engine's rows per step "
            f"{j['rows_normals_per_second'] / 1e6:.1f}, whole blocks {j['block_normals_per_second'] / 1e6:.1f})"
        ),
    ]
    if t:
        lines.append(
            f"    torch.randn, same blocks per step            {t['normals_per_second'] / 1e6:8.1f} M normals/s"
            f"  (one big block: {t['one_block_normals_per_second'] / 1e6:.1f} M/s; torch threads {t['threads']})"
        )
    return "\n".join(lines)


def scaling_table(sc: dict) -> str:
    lines = []
    for axis, label in (("seeds", "seeds"), ("width", "width m")):
        rows = sc.get(axis) or []
        if not rows:
            continue
        extra = "; weight_norm recorded" if axis == "width" else ""
        lines.append(
            f"jaxrelu scaling with {label} (W1 otherwise{extra}; stepping rate = slope of a short and a full run)"
        )
        lines.append(
            f"    {label:>8}{'steps':>7}{'traj-steps/s':>14}{'end-to-end':>12}{'roofline':>10}{'compile s':>10}"
            f"{'run s':>8}"
        )
        for r in rows:
            lines.append(
                f"    {r[axis]:>8}{r['steps']:>7}{fmt_count(r['rate']):>14}{fmt_count(r['end_to_end_rate']):>12}"
                f"{_f(r['roofline_fraction'], '{:.1%}'):>10}{r['compile_seconds']:>10.2f}{r['run_seconds']:>8.2f}"
            )
    return "\n".join(lines)


def samplers_table(sm: dict) -> str:
    lines = [
        f"Samplers ({sm['seeds']} seeds x {sm['steps']} steps of {tuple(sm['block'])} normals, engine's keys and "
        "vmap/fori pattern; tests: KS normality, seed-seed and lag-1 correlation < 5/sqrt(n))",
        f"    {'sampler':<20}{'M normals/s':>12}{'KS p':>8}{'r seeds':>9}{'r lag1':>9}  {'passes':<7} what",
    ]
    for name, r in sm["jax"].items():
        lines.append(
            f"    {name:<20}{r['normals_per_second'] / 1e6:>12.1f}{r['ks_pvalue']:>8.3f}{r['seed_corr']:>9.4f}"
            f"{r['lag1_corr']:>9.4f}  {'yes' if r['normal_ok'] else 'NO':<7} {r['what']}"
        )
    t = sm.get("torch")
    if t:
        lines.append(
            f"    {'torch.randn':<20}{t['normals_per_second'] / 1e6:>12.1f}{'':>26}  {'':<7} per-step blocks "
            f"(one big block {t['one_block_normals_per_second'] / 1e6:.1f})"
        )
    lines.append(
        f"    fastest passing the tests: {sm['fastest_passing']}; fastest on JAX's default threefry-20 hash: "
        f"{sm.get('fastest_threefry20')}; the engine keeps 'engine' (jax.random.normal's stream bit for bit)"
    )
    if sm.get("w1_step"):
        lines.append("    W1 SGD step (engine arithmetic, vmapped seeds) with x from each sampler:")
        base = sm["w1_step"].get("engine", {}).get("seed_steps_per_second")
        for name, r in sm["w1_step"].items():
            rel = f"  ({r['seed_steps_per_second'] / base:.2f}x engine sampler)" if base else ""
            lines.append(f"        {name:<20}{fmt_count(r['seed_steps_per_second']):>10} seed-steps/s{rel}")
    return "\n".join(lines)


def jaxrelu_only_table(key: str, w: dict) -> str:
    """A workload the peers cannot run: jaxrelu's rate and its reference run's, timed round-robin."""
    lines = [
        f"{key}  {w['title']}",
        f"    seeds={w['seeds']} grid={w['grid']} steps={w['steps']};  peers skipped ({w['peers_skipped']})",
    ]
    for name, r in w["impls"].items():
        label = "(e) jaxrelu.run" if name == "jaxrelu" else f"    {w['reference']['title']}"
        spread = (
            f"  (median of {len(r['rates'])}: {fmt_count(min(r['rates']))}-{fmt_count(max(r['rates']))})"
            if len(r["rates"]) > 1
            else ""
        )
        lines.append(
            f"    {label:<44}{fmt_count(r['rate']):>13} traj-steps/s  compile {r['compile_seconds']:.2f} s{spread}"
        )
    if "rate_vs_reference" in w:
        by = ", ".join(f"{x:.2f}" for x in w["rate_vs_reference_by_round"])
        lines.append(f"    rate / reference's, per trajectory-step: {w['rate_vs_reference']:.2f}  (by round: {by})")
    return "\n".join(lines)


def profile_table(r: dict) -> str:
    """The accelerator profile (:mod:`jaxrelu.bench.profile`): checks, limits, timings."""
    m = r["meta"]
    pk = m.get("peak")
    lines = [
        f"Accelerator profile{'  [--dry sizes: not meaningful]' if m['dry'] else ''}: {m['device_kind']} "
        f"({m['backend']}, {m['local_device_count']} local device(s)); "
        + (
            f"peaks {pk['name']}: {pk['memory_bandwidth'] / 1e12:.2f} TB/s, {pk['fp32_flops'] / 1e12:.1f} FP32 TFLOP/s"
            if pk
            else "no peak rates known for this device"
        )
        + (f"; free {m['free_bytes'] / 2**30:.1f} GiB" if m.get("free_bytes") else ""),
        "  Checks",
    ]
    for name, c in r["checks"].items():
        res = "PASS" if c.get("passed") else "FAIL"
        detail = c.get("error") or ", ".join(
            f"{k} {_short(v)}" for k, v in c.items() if k not in ("passed", "seconds", "traceback")
        )
        lines.append(f"    {name:<12}{res:<6}{c['seconds']:6.1f} s  {detail[:150]}")
    lim = r.get("limits", {})
    mm, sm = lim.get("matmul", {}), lim.get("sampler", {})
    tflops = (mm.get("flops_per_second") or float("nan")) / 1e12
    gnormals = (sm.get("normals_per_second") or float("nan")) / 1e9
    lines.append(
        f"  Limits: matmul {_f(tflops)} TFLOP/s (float32 {mm.get('n', '-')}^2, default precision), "
        f"sampler {_f(gnormals)} G normals/s"
    )
    hdr = (
        f"    {'workload':<22}{'traj-steps/s':>13}{'roofline':>9}{'compute':>9}{'bandwidth':>10}{'GB/s':>8}"
        f"{'KiB/traj':>9}{'peak GiB':>9}{'chunk':>8}{'compile s':>10}  notes"
    )
    lines += ["  Timings (stepping rate: slope between warm runs)", hdr, "    " + "-" * (len(hdr) - 4)]
    for label, t in r["timings"].items():
        if "skipped" in t or "error" in t:
            lines.append(f"    {label:<22}  {t.get('skipped') or t.get('error')}")
            continue
        ro = t.get("roofline") or {}
        secs = t["step_seconds"]
        frac = lambda k: None if ro.get(k) is None else ro[k] / secs  # noqa: E731
        dev = (t["memory"].get("device") or {}).get("peak_bytes_in_use")
        notes = f"x{t['rate_vs_reference']:.2f} of the fixed batch" if "rate_vs_reference" in t else ""
        lines.append(
            f"    {label:<22}{fmt_count(t['rate']):>13}{_f(ro.get('fraction'), '{:.1%}'):>9}"
            f"{_f(frac('compute_seconds'), '{:.1%}'):>9}{_f(frac('bandwidth_seconds'), '{:.1%}'):>10}"
            f"{_f((ro.get('achieved_bytes_per_second') or float('nan')) / 1e9, '{:.0f}'):>8}"
            f"{_kib(t['memory'].get('per_traj_bytes')):>9}"
            f"{_f(None if dev is None else dev / 2**30, '{:.2f}'):>9}"
            f"{t['chunk_size']:>8}{t['compile_seconds']:>10.2f}  {notes}"
        )
    lines.append(
        f"  Total {m.get('total_seconds', float('nan')):.0f} s; checks "
        f"{'all passed' if m.get('checks_passed') else 'FAILED: see above'}"
    )
    return "\n".join(lines)


def _short(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.2g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} {_short(x)}" for k, x in v.items() if k not in ("seconds",)) + "}"
    return str(v)
