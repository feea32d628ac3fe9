"""CUDA graphs on a GPU (skipped without CUDA): a graphed run learns as an eager one does,
resumes, diverges on an injected NaN, and runs the methods' eager work (STU-GAN's prune and
regrow, SR-GAN's compensation) between replays. What does not need a GPU is in
tests/test_step.py."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from ssgan.training.loop import EXIT_DIVERGED, EXIT_PREEMPTED, Run, train
from tests.test_train import tiny_cfg

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.slow,
]


def cuda_cfg(method="wgan_gp", graph=True, seed=0, **extra):
    over = {
        "train.device": "cuda",
        "train.cuda_graph": "true" if graph else "false",
        "train.deterministic": "false",
        "model.width": 16,
        "train.batch_size": 64,
        "data.max_images": 4096,
        **extra,
    }
    return tiny_cfg(method, seed=seed, **over)


def log(run) -> list[dict]:
    with open(run / "train_log.csv") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def record(run) -> dict:
    return json.loads((run / "run.json").read_text())


def agree_in_distribution(g: list[dict], e: list[dict], start: int) -> None:
    """From iteration ``start`` on, the graphed log's losses are finite and their mean lies
    within two standard deviations (of both logs) of the eager log's."""
    for key in ("critic_loss", "wasserstein", "generator_loss"):
        tail_g = torch.tensor([r[key] for r in g[start:]])
        tail_e = torch.tensor([r[key] for r in e[start:]])
        assert torch.isfinite(tail_g).all()
        spread = float(torch.cat([tail_g, tail_e]).std()) + 1e-3
        assert abs(float(tail_g.mean() - tail_e.mean())) < 2 * spread, key


def test_graph_and_eager_losses_agree_in_distribution(tmp_path):
    """200 iterations on MNIST, the same seed: the graph replays the eager iteration's
    operations (not bitwise: Adam's capturable arithmetic, kernel choices), so the curves
    agree closely at the start and in distribution over the run."""
    over = {"train.iterations": 200, "train.checkpoint_every": 100, "probe.every": 100}
    assert train(cuda_cfg(graph=True, **over), tmp_path / "graph") == 0
    assert train(cuda_cfg(graph=False, **over), tmp_path / "eager") == 0
    g, e = log(tmp_path / "graph"), log(tmp_path / "eager")
    assert [r["iteration"] for r in g] == [r["iteration"] for r in e] == list(range(1, 201))
    assert record(tmp_path / "graph")["execution"]["cuda_graph"] is True
    assert record(tmp_path / "graph")["execution"]["graph_captures"] >= 1
    assert record(tmp_path / "eager")["execution"]["graph_captures"] == 0
    # The warm-up iterations run eagerly in both: equal to float tolerance.
    for a, b in zip(g[:3], e[:3]):
        assert a["critic_loss"] == pytest.approx(b["critic_loss"], rel=1e-3, abs=1e-3)
    agree_in_distribution(g, e, 100)


def test_kill_and_resume_under_graphs(tmp_path, monkeypatch):
    """Stopped at iteration 40 (as SIGTERM would: the flag is set between replays), the run
    writes a checkpoint and resumes at the same iteration and data position; the losses stay
    finite and the stream ends where an uninterrupted run's does."""
    over = {"train.iterations": 80, "train.checkpoint_every": 20, "probe.every": 20}
    cfg = cuda_cfg(**over)
    assert train(cfg, tmp_path / "whole") == 0
    take = Run.take_probes

    def stop_at_40(self, iteration):
        take(self, iteration)
        if iteration == 40:
            self.stop_requested = True

    monkeypatch.setattr(Run, "take_probes", stop_at_40)
    assert train(cfg, tmp_path / "cut") == EXIT_PREEMPTED
    assert record(tmp_path / "cut")["iteration"] == 40
    monkeypatch.setattr(Run, "take_probes", take)
    assert train(cfg, tmp_path / "cut") == 0
    rows = log(tmp_path / "cut")
    assert [r["iteration"] for r in rows] == list(range(1, 81))
    assert all(torch.isfinite(torch.tensor(r["critic_loss"])) for r in rows)
    ck = {
        name: torch.load(tmp_path / name / "checkpoints" / "ckpt_00000080.pt", weights_only=True)
        for name in ("whole", "cut")
    }
    assert ck["cut"]["stream"] == ck["whole"]["stream"]
    assert [e["kind"] for e in record(tmp_path / "cut")["events"]].count("resumed") == 1


def test_injected_nan_ends_diverged_under_graphs(tmp_path):
    cfg = cuda_cfg(**{"train.iterations": 30, "debug.nan_at": 17})
    assert train(cfg, tmp_path / "run") == EXIT_DIVERGED
    rec = record(tmp_path / "run")
    assert rec["status"] == "diverged" and rec["diverged_at"] == 17


@pytest.mark.parametrize("method", ["stu_gan", "sr_gan", "sn_gan", "ssgan"])
def test_methods_run_their_eager_work_between_replays(method, tmp_path):
    extra = {"train.iterations": 40, "probe.every": 20}
    if method == "stu_gan":
        extra |= {"stu.update_every": 10}
    if method == "sr_gan":
        extra |= {"sr.every": 5}
    assert train(cuda_cfg(method, **extra), tmp_path / "run") == 0
    rec = record(tmp_path / "run")
    assert rec["execution"]["cuda_graph"] is True and rec["execution"]["graph_captures"] >= 1
    assert all(torch.isfinite(torch.tensor(r["critic_loss"])) for r in log(tmp_path / "run"))
    if method == "stu_gan":  # explorations at 10, 20, 30; masks still hold between them
        with open(tmp_path / "run" / "stu_masks.csv") as fh:
            its = sorted({int(r["iteration"]) for r in csv.DictReader(fh)})
        assert its == [0, 10, 20, 30]
        G = torch.load(tmp_path / "run" / "generator.pt", weights_only=True)
        nonzero = sum(int((v != 0).sum()) for v in G.values() if v.dim() == 4)
        assert nonzero <= rec["method_summary"]["generator_masked_active"]
    if method == "sr_gan":
        assert rec["method_summary"]["sr_compensations"] == 8 * 2  # 8 iterations x n_critic 2


@pytest.mark.parametrize("method", ["wgan_gp", "ssgan"])
def test_a_stacked_seed_batch_replays_one_graph_and_learns_as_eager(method, tmp_path):
    """Seeds {0, 1} stacked (ssgan/training/stacked.py), 120 iterations: the batched iteration
    is captured (once, unless a probe replaced a storage) and replayed, every seed completes,
    and each seed's losses agree with the same seed's eager stacked batch at the start (the
    warm-up runs eagerly in both) and in distribution after."""
    from ssgan.training import batch

    over = {"train.iterations": 120, "train.checkpoint_every": 60, "probe.every": 60}
    outs = {}
    for graph in (True, False):
        cfgs = [cuda_cfg(method, graph=graph, seed=s, **over) for s in (0, 1)]
        outs[graph] = [tmp_path / str(graph) / f"seed{s}" for s in (0, 1)]
        assert batch.train_batch(cfgs, outs[graph]) == [0, 0]
    for s in (0, 1):
        ex = record(outs[True][s])["execution"]
        assert ex["batched"] is True and ex["cuda_graph"] is True, ex
        assert ex["graph_captures"] >= 1 and not ex["graph_error"], ex
        assert record(outs[False][s])["execution"]["graph_captures"] == 0
        g, e = log(outs[True][s]), log(outs[False][s])
        for a, b in zip(g[:3], e[:3]):
            assert a["critic_loss"] == pytest.approx(b["critic_loss"], rel=1e-3, abs=1e-3)
        agree_in_distribution(g, e, 60)
