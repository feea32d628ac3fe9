"""The seeds of one cell stacked into one network in one process: the fused seed batch that
``ssgan.training.batch.train_batch`` uses where ``refusal(cfg)`` is None (the others step their
seeds in lockstep there).

Design: ``torch.func.stack_module_state`` + ``functional_call`` + ``vmap`` over the existing
modules, not hand-written grouped layers: the networks, SASTM (every option) and its
calibration stay the one implementation, and each seed's (G, D) is built exactly as a lone run
builds it (``Method.build_networks`` with its own init seed), then stacked, so every seed starts
bitwise equal to its lone run. vmap lowers a stacked convolution to one grouped convolution,
i.e. the K seeds' work runs as one kernel each. BatchNorm's running statistics are stacked
buffers, updated in place per seed. The gradient penalty's ``torch.autograd.grad`` is called
outside vmap on the stacked graph (input K x B x C x H x W), and the penalty is per (seed,
sample). Adam is element-wise, so one Adam over the stacked parameters is K independent Adams:
the loss backpropagated is the SUM over seeds of each seed's own mean loss.

Each seed keeps its lone run's RNG streams: its own data stream (its ``Run``'s step inputs,
filled in the same order), its own noise generator (latents, interpolation weights drawn in the
lone order), its own probe and sample latents. One ``Run`` per seed writes its ordinary run
directory (record, logs, probes, samples, snapshots, checkpoints, weights); its modules and
optimizer states are refreshed from the stack before anything reads them, and written back
after (a probe that moves BatchNorm statistics moves them in the stack too). Losses equal a lone
run's to float tolerance, not bitwise (a grouped convolution sums in another order).

The stacked iteration is replayed as one CUDA graph where a lone run's would be
(``train.cuda_graph``; ``StackedStep`` follows the lone ``Step``'s schedule, ssgan/training/step.py:
warm-up, one capture with every seed's noise generator registered, replays, a new capture when
a stacked tensor's storage changes, eager for good if a capture fails, ``execution.graph_error``
saying why). Probes, samples and checkpoints run between replays on the seeds' own modules,
refreshed from the stack and written back in place.

What is not built, and how it is handled:
- Resuming: SIGTERM writes every seed's checkpoint; rerun, each seed restores its own newest
  good checkpoint and the seeds are stacked again (parameters, BatchNorm statistics, Adam
  states), bitwise the uninterrupted batch on the CPU. Where a seed has finished (completed,
  diverged) or the seeds' checkpoints are at different iterations, the seeds are continued one
  after another by the lone trainer, each from its own checkpoint.
- A seed whose loss is non-finite is marked ``diverged`` and its files stop; it is still
  stepped in the stack (seeds never interact), the others finish.
- Refused (``refusal``; the seeds then run in lockstep, ssgan/training/batch.py): other methods,
  gradient accumulation, an EMA of G, TensorBoard curves. Both architectures (DCGAN, ResNet)
  and ``train.lr_decay`` (written into the stacked Adams before each iteration) are stacked.
  ``train.precision`` bf16: autocast does not reach operations under ``vmap`` (a vmapped
  convolution under bf16 autocast returns fp32: tests/test_seed_batch.py checks it, and fails
  once PyTorch changes it). ``fp32`` and ``tf32`` (a process-wide switch) are stacked.
"""

from __future__ import annotations

import copy
import signal
import sys
import time
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap

from ssgan import probes
from ssgan.methods.base import set_learning_rates
from ssgan.training import step as steps
from ssgan.training.loop import EXIT_PREEMPTED, Run, train
from ssgan.training.run_files import LOG_COLUMNS, read_csv_upto
from ssgan.training.step import GraphSchedule, storage_fingerprint, use_graph

METHODS = ("wgan_gp", "ssgan")
BF16 = "train.precision bf16 is not batched (autocast does not reach vmapped operations)"
RESUMABLE = ("running", "preempted", "failed")  # a record in these states resumes batched


def refusal(cfg: dict) -> str | None:
    """None if the seeds of ``cfg`` can be trained as one network, else why not (one line)."""
    t = cfg["train"]
    if cfg["method"] not in METHODS:
        return f"method {cfg['method']!r} is not batched (batched: {', '.join(METHODS)})"
    checks = [
        (t.get("accumulate", 1) != 1, "train.accumulate > 1 is not batched"),
        (t.get("ema_decay") is not None, "train.ema_decay (an EMA of G) is not batched"),
        (t.get("precision", "fp32") == "bf16", BF16),
        (bool(cfg.get("log", {}).get("tensorboard")), "log.tensorboard is not batched"),
    ]
    return next((why for bad, why in checks if bad), None)


class SeedRun(Run):
    """A lone run's directory and state, trained as one seed of a batch."""

    batch: list[int] = []  # the seeds trained together (run.json's execution.seed_batch)
    shared: GraphSchedule | None = None  # the stacked step that trains this seed

    def execution(self) -> dict:
        ex = super().execution()
        if self.shared is not None:  # how the stacked iteration ran, not the unused lone step
            s = self.shared
            ex.update(cuda_graph=s.graph, graph_captures=s.captures, graph_error=s.graph_error)
        return {**ex, "seed_batch": list(self.batch), "batched": True}


class Stack:
    """The K seeds' (G, D) as stacked parameters and buffers, and their optimizers."""

    def __init__(self, runs: list[Run]):
        self.runs = runs
        cfg, t = runs[0].cfg, runs[0].cfg["train"]
        self.method = runs[0].method
        self.gp, self.gb = stack_module_state([r.m.G for r in runs])
        self.dp, self.db = stack_module_state([r.m.D for r in runs])
        self.G = copy.deepcopy(runs[0].m.G).to("meta")
        self.D = copy.deepcopy(runs[0].m.D).to("meta")
        betas = (t["beta1"], t["beta2"])
        self.opt_G = torch.optim.Adam(list(self.gp.values()), lr=t["lr"], betas=betas)
        self.opt_D = torch.optim.Adam(list(self.dp.values()), lr=t["lr"], betas=betas)
        self.lam, self.n_critic = t["gp_lambda"], t["n_critic"]
        self.g_batch = t["g_batch_size"] or t["batch_size"]
        self.z_dim = cfg["model"]["z_dim"]
        self._stack_optimizer_states()

    @torch.no_grad()
    def _stack_optimizer_states(self) -> None:
        """The seeds' Adam states (restored from their checkpoints) into the stacked Adams."""
        for opt, params, which in ((self.opt_G, self.gp, "G"), (self.opt_D, self.dp, "D")):
            for name, stacked in params.items():
                states = [
                    getattr(r.m, f"opt_{which}").state.get(getattr(r.m, which).get_parameter(name))
                    for r in self.runs
                ]
                if all(states):
                    opt.state[stacked] = {
                        key: v.clone() if key == "step" else torch.stack([s[key] for s in states])
                        for key, v in states[0].items()
                    }

    def g(self, params, z):
        return vmap(lambda p, b, x: functional_call(self.G, (p, b), (x,)))(params, self.gb, z)

    def d(self, params, x):
        return vmap(lambda p, b, y: functional_call(self.D, (p, b), (y,)))(params, self.db, x)

    def _draw(self, what: str, n: int, device) -> torch.Tensor:
        """Each seed's ``method.<what>(n, gen, device)`` from its own noise generator."""
        return torch.stack([getattr(r.method, what)(n, r.gen, device) for r in self.runs])

    def iteration(self) -> dict[str, torch.Tensor]:
        """One generator iteration of every seed (the lone ``WGANGP.train_iteration``) over the
        seeds' filled step inputs: each log scalar as a tensor of K, one per seed."""
        for _ in range(self.n_critic):
            real = torch.stack([r.step.inputs.next() for r in self.runs])
            n, dev = real.shape[1], real.device
            self.opt_D.zero_grad(set_to_none=False)
            with torch.no_grad():
                fake = self.g(self.gp, self._draw("sample_z", n, dev))
            wasserstein = self.d(self.dp, real).float().mean(1) - self.d(
                self.dp, fake
            ).float().mean(1)
            alpha = self._draw("interpolation_weights", n, dev)
            xhat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.d(self.dp, xhat).sum(), xhat, create_graph=True)
            gp = ((grad.float().flatten(2).norm(2, dim=2) - 1) ** 2).mean(1)
            loss = -wasserstein + self.lam * gp
            loss.sum().backward()
            self.opt_D.step()
        self.opt_G.zero_grad(set_to_none=False)
        z = self._draw("sample_z", self.g_batch, dev)
        frozen = {k: v.detach() for k, v in self.dp.items()}
        g_loss = -self.d(frozen, self.g(self.gp, z)).float().mean(1)
        g_loss.sum().backward()
        self.opt_G.step()
        values = dict(
            critic_loss=loss, generator_loss=g_loss, wasserstein=wasserstein, gradient_penalty=gp
        )
        return {key: values[key].detach() for key in LOG_COLUMNS[1:-1]}

    @torch.no_grad()
    def pull(self) -> None:
        """Each seed's modules and optimizer states from the stack."""
        for k, r in enumerate(self.runs):
            for module, params, buffers, opt, mine in (
                (r.m.G, self.gp, self.gb, self.opt_G, r.m.opt_G),
                (r.m.D, self.dp, self.db, self.opt_D, r.m.opt_D),
            ):
                for name, p in module.named_parameters():
                    p.copy_(params[name][k])
                    state = opt.state.get(params[name])
                    if state:
                        mine.state[p] = {
                            key: v.clone() if key == "step" else v[k].clone()
                            for key, v in state.items()
                        }
                for name, b in module.named_buffers():
                    b.copy_(buffers[name][k])

    @torch.no_grad()
    def push(self) -> None:
        """Each seed's parameters and buffers back into the stack (after probes and samples)."""
        for k, r in enumerate(self.runs):
            for module, params, buffers in ((r.m.G, self.gp, self.gb), (r.m.D, self.dp, self.db)):
                for name, p in module.named_parameters():
                    params[name][k].copy_(p)
                for name, b in module.named_buffers():
                    buffers[name][k].copy_(b)


class StackedStep(GraphSchedule):
    """The stacked iteration of every seed under the lone step's graph schedule: each seed's
    batches are filled into its own step inputs before the iteration, outside the graph; the
    graph draws from every seed's own noise generator."""

    def __init__(self, stack: Stack, device, graph: bool):
        super().__init__(device, graph)
        self.stack = stack
        if graph:
            for opt in (stack.opt_G, stack.opt_D):
                steps.make_capturable(opt, self.device)

    def prepare(self, iteration: int) -> None:
        for r in self.stack.runs:
            r.step.inputs.fill()
        # train.lr_decay: this iteration's lr into both stacked Adams, outside the graph
        set_learning_rates(self.stack, self.stack.runs[0].cfg["train"], iteration)

    def rewind(self) -> None:
        for r in self.stack.runs:
            r.step.inputs.k = 0

    def run_eagerly(self, iteration: int) -> dict:
        stats = self.stack.iteration()  # fp32 or tf32 (process-wide, set by build)
        for r in self.stack.runs:
            if r.step.inputs.k != r.step.inputs.count:
                raise RuntimeError(
                    f"the stacked iteration drew {r.step.inputs.k} batches of seed "
                    f"{r.cfg['seed']} but the method declares {r.step.inputs.count}"
                )
        return stats

    def fingerprint(self) -> tuple[int, ...]:
        s = self.stack
        return storage_fingerprint(s.gp, s.gb, s.dp, s.db, s.opt_G, s.opt_D)

    def generators(self) -> list[torch.Generator]:
        return [r.gen for r in self.stack.runs]


def _same_cell(cfgs: list[dict]) -> None:
    """The configs differ in their seed only (and ``debug``, the tests' fault injection)."""
    strip = [{k: v for k, v in c.items() if k not in ("seed", "debug")} for c in cfgs]
    if any(s != strip[0] for s in strip[1:]):
        raise ValueError("a seed batch's configs must differ only in their seed")


def _sequential(cfgs: list[dict], outs: list[Path]) -> list[int]:
    codes: list[int] = []
    for cfg, out in zip(cfgs, outs):
        codes.append(train(cfg, out) if EXIT_PREEMPTED not in codes else EXIT_PREEMPTED)
    return codes


def train_batch(cfgs: list[dict], outs: list[Path]) -> list[int]:
    """Train the seeds ``cfgs`` (one cell) as one network into ``outs``; per-seed exit codes
    as ``loop.train`` returns them; seeds stopped together resume together (see above)."""
    _same_cell(cfgs)
    why = next((w for c in cfgs if (w := refusal(c)) is not None), None)
    if why is not None:
        raise ValueError(f"not a batchable config: {why}")
    outs = [Path(o) for o in outs]
    runs = [SeedRun(c, o) for c, o in zip(cfgs, outs)]
    for r in runs:
        r.batch = [c["seed"] for c in cfgs]
    found = [r.read_record()[0] if r.out.is_dir() else None for r in runs]
    if any(f is not None and f["status"] not in RESUMABLE for f in found):
        print(f"{outs[0].parent}: a seed has finished: one after another", file=sys.stderr)
        return _sequential(cfgs, outs)
    starts = {_open(r, f) for r, f in zip(runs, found)}
    if len(starts) > 1:
        print(
            f"{outs[0].parent}: seeds resume from different iterations: one after another",
            file=sys.stderr,
        )
        return _sequential(cfgs, outs)
    stack = Stack(runs)
    step = StackedStep(
        stack, runs[0].device, use_graph(cfgs[0]["train"]["cuda_graph"], runs[0].device)
    )
    for r in runs:
        r.shared = step
        r.out.mkdir(parents=True, exist_ok=True)
        r.mark_running()  # as a lone run: notes said, the SLURM job recorded
        r.write_record()
    state = {"stop": False}
    old = {
        s: signal.signal(s, lambda *_: state.__setitem__("stop", True))
        for s in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return _loop(runs, stack, step, state, starts.pop())
    except Exception as err:
        for r in runs:
            r.record.update(status="failed", wall_time_s=r.wall_time())
            r.event("failed", r.record["iteration"], f"{type(err).__name__}: {err}")
            r.write_record()
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _open(r: SeedRun, found: dict | None) -> int:
    """Build a seed's run and restore its newest good checkpoint; the iteration it resumes at."""
    r.build()
    r.step.graph = False  # the seed's own step is not run: StackedStep is (SeedRun.execution)
    r.record = found or r.new_record()
    r.t0, r.wall_before = time.monotonic(), 0.0
    start = r.restore() if found else 0
    r.rows = {n: read_csv_upto(r.out / n, start) if start > 0 else [] for n in r.csv_files}
    return start


def _loop(
    runs: list[SeedRun], stack: Stack, step: StackedStep, state: dict, start: int
) -> list[int]:
    """``Run._loop`` for K seeds in lockstep, one stacked iteration each step."""
    cfg, t = runs[0].cfg, runs[0].cfg["train"]
    total, every_probe = t["iterations"], cfg["probe"]["every"]
    snapshots = set(cfg["fid"]["checkpoints"] or [])
    codes: dict[int, int] = {}
    for r in runs if start == 0 else []:
        r.take_probes(0)
        r.rows["weight_hist.csv"] += probes.histogram_rows(
            r.m.G, "start", 0, cfg["probe"]["hist_bins"]
        )
    stack.push()
    pending = {k: [] for k in range(len(runs))}
    for it in range(start + 1, total + 1):
        out = step(it)
        stats = [{key: v[k] for key, v in out.items()} for k in range(len(runs))]
        for k, r in enumerate(runs):
            if r.cfg["debug"]["nan_at"] == it:  # fault injection (tests)
                stats[k]["critic_loss"] = stats[k]["critic_loss"] * float("nan")
            pending[k].append((it, stats[k]))
        stop = state["stop"]
        at_checkpoint = it % t["checkpoint_every"] == 0
        log = it % t["log_every"] == 0 or at_checkpoint or it == total or stop
        outputs = it % every_probe == 0 or it % t["sample_every"] == 0 or it in snapshots
        if not (log or outputs):
            continue
        stack.pull()
        for k, r in enumerate(runs):
            if k in codes:
                continue
            if log:
                bad = r.flush(pending[k])
                if bad is not None:
                    codes[k] = r.diverged(bad)
                    continue
            if it % every_probe == 0:
                r.take_probes(it)
            if it % t["sample_every"] == 0:
                r.save_samples(it)
            if it in snapshots:
                r.save_generator(it)
            if at_checkpoint or stop:
                r.save_checkpoint(it)
            if stop:
                r.record["status"] = "preempted"
                r.event("preempted", it, "signal received; checkpoint written")
                r.write_record()
                codes[k] = EXIT_PREEMPTED
        stack.push()
        if stop:
            print(
                f"seed batch stopped by signal at iteration {it}; rerun to resume", file=sys.stderr
            )
            break
    else:
        for k, r in enumerate(runs):
            if k not in codes:
                codes[k] = r.finish(total)
    return [codes[k] for k in range(len(runs))]
