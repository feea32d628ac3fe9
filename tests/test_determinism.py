"""``train.deterministic`` (ssgan/training/runtime.py seed_everything, docs/determinism.md): the switch
reaches torch both ways, leaving PyTorch's ``fill_uninitialized_memory`` off changes no weight,
and benchmarks/deterministic_cost.py measures both modes through the real training step."""

from __future__ import annotations

import copy
import csv
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

import ssgan.training.loop
from ssgan.models import SASTM, Generator
from ssgan.training.loop import Run, train
from tests.conftest import REPO
from tests.test_train import same_weights, tiny_cfg


@pytest.fixture
def global_torch_state():
    """The process-wide switches seed_everything sets, restored after the test."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
        torch.backends.cudnn.benchmark,
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    yield
    det, warn_only, fill, bench, cublas = saved
    torch.use_deterministic_algorithms(det, warn_only=warn_only)
    torch.utils.deterministic.fill_uninitialized_memory = fill
    torch.backends.cudnn.benchmark = bench
    if cublas is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas


@pytest.mark.usefixtures("global_torch_state")
def test_the_deterministic_switch_reaches_torch_both_ways():
    """true then false then true in one process: each built Run sees its own setting."""
    for det in (True, False, True):
        run = Run(tiny_cfg("ssgan", **{"train.deterministic": str(det).lower()}), "unused")
        run.build()
        assert torch.are_deterministic_algorithms_enabled() is det
        if det:
            assert torch.is_deterministic_algorithms_warn_only_enabled()
            assert torch.utils.deterministic.fill_uninitialized_memory is False
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"]


@pytest.mark.usefixtures("global_torch_state")
def test_filling_uninitialized_memory_changes_no_weight(tmp_path, monkeypatch):
    """A 12-iteration ssgan run with PyTorch's default (every ``empty`` filled with NaN, as
    deterministic training did before) ends bitwise equal to one without the fill."""
    filled = []
    seed = ssgan.training.loop.seed_everything

    def seed_with_fill(s, deterministic):
        seed(s, deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = True
        filled.append(torch.are_deterministic_algorithms_enabled())

    assert train(tiny_cfg(), tmp_path / "nofill") == 0
    monkeypatch.setattr(ssgan.training.loop, "seed_everything", seed_with_fill)
    assert train(tiny_cfg(), tmp_path / "fill") == 0
    assert filled == [True]
    assert same_weights(tmp_path / "nofill", tmp_path / "fill")


def test_deterministic_cost_script_measures_both_modes(tmp_path):
    out = tmp_path / "cost.csv"
    args = "--methods ssgan --modes deterministic --widths 8 --batch 8 --iters 2 --warmup 1"
    args += " --sastm-spatial conv,matmul"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "benchmarks/deterministic_cost.py", *args.split()]
        + ["--rounds", "1", "--device", "cpu", "--out", str(out)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    summary = [r for r in rows if r["kind"] == "summary"]
    assert [(r["sastm_spatial"], r["mode"]) for r in summary] == [
        ("conv", "deterministic"),
        ("matmul", "deterministic"),
    ]
    for r in summary:
        assert float(r["ref_iters_per_sec"]) > 0 < float(r["mode_iters_per_sec"])
        assert r["mode_setup"].startswith("deterministic=True fill=False cublas_workspace=:")
    ops = {(r["sastm_spatial"], r["name"]): r for r in rows if r["kind"] == "op" and r["method"]}
    # the real step ran in both modes: convolutions and Adam are in both profiles
    for name in ("aten::convolution_backward", "Optimizer.step#Adam.step"):
        assert float(ops["conv", name]["ref_calls_per_iter"]) > 0
        assert float(ops["conv", name]["mode_calls_per_iter"]) > 0
    # the matmul variant has no SASTM convolution: 2 fewer backward convolutions per
    # iteration (one per SASTM at 32 px, generator step only) and 2 x 6 fewer forwards
    calls = {
        v: float(ops[v, "aten::convolution_backward"]["mode_calls_per_iter"])
        for v in ("conv", "matmul")
    }
    assert calls["conv"] - calls["matmul"] == 2
    assert float(ops["matmul", "aten::einsum"]["mode_calls_per_iter"]) == 12
    for variant in ("conv", "matmul"):
        diffs = [
            float(r["diff_us_per_iter"])
            for r in rows
            if r["kind"] == "op" and r["sastm_spatial"] == variant
        ]
        assert diffs == sorted(diffs, reverse=True)
    assert not [r for r in rows if r["kind"] == "kernel"]  # CPU: no device activity


def test_sastm_spatial_as_matmul_matches_the_convolution_to_float_tolerance():
    """The candidate reformulation the script can time: same parameters, same values up to
    summation order (not bitwise: docs/determinism.md says why it is not in the package)."""
    spec = importlib.util.spec_from_file_location(
        "deterministic_cost", REPO / "benchmarks" / "deterministic_cost.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    torch.manual_seed(0)
    G = Generator(32, 3, 8, 16, sastm={"init": "default"})  # random spatial weights
    twin = copy.deepcopy(G)
    bench.spatial_as_matmul(twin)
    assert G.state_dict().keys() == twin.state_dict().keys()
    patched = [m.spatial for m in twin.modules() if isinstance(m, SASTM)]
    assert len(patched) == 2 and all("forward" in vars(conv) for conv in patched)
    z = torch.randn(8, 16)
    G(z).square().mean().backward()
    twin(z).square().mean().backward()
    for (name, a), b in zip(G.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)
    torch.testing.assert_close(G(z), twin(z), rtol=1e-5, atol=1e-6)
