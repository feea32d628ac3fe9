"""``ssgan fid --fake PATH --real DATASET|FOLDER`` and ``ssgan.fid`` on anything: image
folders, run directories, generator files (Python, TorchScript); the checks of a generator's
latent size, shape and range; the Inception Score; the one cache; progress in logs. Tiny image
folders and generators, the session's Inception weights (tests/fid_fixtures.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import ssgan
from ssgan import io
from ssgan.cli import main
from ssgan.errors import ConfigError
from ssgan.metrics import extractor
from ssgan.metrics.evaluate import protocol_id
from ssgan.metrics.generators import latent_size, load_file, prepare
from ssgan.metrics.real_stats import real_images
from tests.conftest import wall_limit
from tests.fid_fixtures import small_cfg

REPO = Path(__file__).resolve().parents[1]
N = 12  # images per folder


def protocol_args(cache, weights, *extra):
    return [
        "fid.n_real=24",
        "fid.split=test",
        f"fid.batch_size={N}",
        "fid.kid_subset_size=6",
        "fid.class_coverage=false",
        f"fid.cache_dir={cache}",
        f"fid.weights={weights.path}",
        *extra,
    ]


@pytest.fixture(scope="module")
def folders(tmp_path_factory, fid_cache, fid_weights):
    """Two folders of MNIST test images as PNG files: A = test[:N], B = test[N:2N]."""
    root = tmp_path_factory.mktemp("folders")
    images = real_images(small_cfg("mnist", fid_cache, fid_weights, n_real=2 * N), "test")
    out = {}
    for name, part in (("A", images[:N]), ("B", images[N:])):
        (root / name).mkdir()
        for i, image in enumerate(part):
            Image.fromarray(image[0].numpy(), mode="L").save(root / name / f"{i:03d}.png")
        out[name] = root / name
    return out


GEN_PY = """
import torch
from torch import nn

class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.z_dim = 16
        self.net = nn.Sequential(nn.Linear(16, 32 * 32), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 32, 32)
"""


def write_generators(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "gen.py").write_text(textwrap.dedent(GEN_PY))
    G = load_file(str(tmp_path / "gen.py"))  # the same module, as TorchScript
    torch.jit.script(G).save(str(tmp_path / "gen.pt"))
    (tmp_path / "probe.py").write_text(
        "from torch import nn\n\ndef make_generator():\n"
        "    return nn.Sequential(nn.Linear(20, 1024), nn.Tanh(), nn.Unflatten(1, (1, 32, 32)))\n"
    )
    return {"py": tmp_path / "gen.py", "pt": tmp_path / "gen.pt", "probe": tmp_path / "probe.py"}


# --- what is scored, against what --------------------------------------------------------


@pytest.mark.slow
def test_a_folder_against_a_dataset_a_folder_and_itself(folders, tmp_path, fid_weights, capsys):
    cache = tmp_path / "cache"
    args = protocol_args(cache, fid_weights)
    assert main(["fid", "--fake", str(folders["A"]), "--real", "mnist", *args]) == 0
    rec = io.read_json(folders["A"].parent / "A.fid-mnist.json")  # beside the input
    assert (rec["fake_kind"], rec["real"], rec["real_kind"], rec["n_fake"]) == (
        "folder", "mnist", "dataset", N,
    )  # fmt: skip
    assert rec["n_real"] == 24 and rec["fid"] > 0 and rec["latent_seed"] is None
    assert rec["protocol_id"] == protocol_id(rec) and rec["status"] == "ok"
    assert f"protocol {rec['protocol_id']}" in capsys.readouterr().out
    # the API gives the same number under the same protocol
    api = ssgan.fid(folders["A"], dataset="mnist", protocol={
        "n_real": 24, "split": "test", "batch_size": N, "kid_subset_size": 6,
        "class_coverage": False, "cache_dir": str(cache), "weights": str(fid_weights.path),
    })  # fmt: skip
    assert (api.fid, api.protocol_id) == (rec["fid"], rec["protocol_id"])
    assert api.record["real_stats_cache_hit"] is True

    # a folder against itself: 0; against other digits: clearly more; the JSON on stdout
    assert main(["fid", "--fake", str(folders["A"]), "--real", str(folders["A"]), "--out", "-", *args]) == 0  # fmt: skip
    same = json.loads(capsys.readouterr().out)
    assert same["real_kind"] == "folder" and same["n_real"] == N and abs(same["fid"]) < 1e-3
    assert same["dataset"] is None and same["split"] == "folder"

    # A against B as a job would run it (stderr to a log): progress lines in the log
    log = tmp_path / "job.log"
    cmd = [sys.executable, "-m", "ssgan.cli", "fid", "--fake", str(folders["A"]), "--real",
           str(folders["B"]), "--out", str(tmp_path / "ab.json"), *args]  # fmt: skip
    env = {**os.environ, "SSGAN_PROGRESS_SECONDS": "0", "OMP_NUM_THREADS": "1"}
    with open(log, "w") as fh:
        done = subprocess.run(cmd, cwd=REPO, env=env, stderr=fh, stdout=subprocess.PIPE, text=True)
    text = log.read_text()
    assert done.returncode == 0, text[-2000:]
    assert f"real stats {folders['B']}: 100%" in text and f"{N}/{N}" in text
    assert f"fid fake features {folders['A']}: 100%" in text and "\r" not in text
    other = io.read_json(tmp_path / "ab.json")
    assert other["fid"] > 10 * max(abs(same["fid"]), 1e-3) and not other["real_stats_cache_hit"]
    assert main(["fid", "--fake", str(folders["A"]), "--real", str(folders["B"]), "--out", str(tmp_path / "ab2.json"), *args]) == 0  # fmt: skip
    again = io.read_json(tmp_path / "ab2.json")
    assert again["real_stats_cache_hit"] and again["fid"] == other["fid"]
    assert len(list((cache / "real_stats").glob("folder-B-*.npz"))) == 1


@pytest.mark.slow
def test_generator_files_and_a_run_directory(tmp_path, tiny_run, fid_cache, fid_weights):
    files = write_generators(tmp_path)
    args = protocol_args(fid_cache, fid_weights, "fid.n_fake=8")
    recs = {}
    for kind, path in files.items():
        assert main(["fid", "--fake", str(path), "--real", "mnist", *args]) == 0
        recs[kind] = io.read_json(path.with_name(f"{path.stem}.fid-mnist.json"))
    # the Python file and its TorchScript: the same weights, latents and number
    assert recs["py"]["fid"] == recs["pt"]["fid"] and recs["py"]["fake_kind"] == "file"
    assert (recs["py"]["z_dim"], recs["py"]["z_dim_source"]) == (16, "attribute z_dim")
    assert recs["py"]["latent_seed"] == recs["pt"]["latent_seed"] == ssgan.metrics.latent_seed(0)
    assert (recs["probe"]["z_dim"], recs["probe"]["z_dim_source"]) == (20, "first layer (Linear)")
    # a run directory as --fake: the number `ssgan fid --run` records for it
    assert main(["fid", "--fake", str(tiny_run), "--out", str(tmp_path / "run.json"), *args]) == 0
    fake = io.read_json(tmp_path / "run.json")
    assert main(["fid", "--run", str(tiny_run), *args]) == 0
    run = io.read_json(tiny_run / "fid.json")
    assert (fake["fid"], fake["kid_mean"], fake["protocol_id"]) == (
        run["fid"], run["kid_mean"], run["protocol_id"],
    )  # fmt: skip
    assert fake["fake_kind"] == "run" and fake["generator_sha256"] == run["generator_sha256"]


# --- bad input: one line naming the problem, before any Inception work ------------------


class Shaped(nn.Module):
    """z (N x 8) -> constant images of a given shape and values."""

    def __init__(self, shape=(1, 32, 32), low=-1.0, high=1.0):
        super().__init__()
        self.z_dim, self.shape, self.low, self.high = 8, shape, low, high

    def forward(self, z):
        x = torch.full((len(z), *self.shape), self.low)
        x[:, :, 0, 0] = self.high
        return x


def test_wrong_shape_wrong_range_and_missing_paths_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"generator outputs 3x64x64 images; .*mnist needs N x 1x32x32"):  # fmt: skip
        ssgan.fid(Shaped((3, 64, 64)), dataset="mnist")
    msg = r"generator outputs must be in \[-1, 1\] \(tanh\); got \[0, 255\]"
    with pytest.raises(ConfigError, match=msg):
        ssgan.fid(Shaped(low=0.0, high=255.0), dataset="mnist")
    with pytest.raises(ConfigError, match="outputs must be finite"):
        ssgan.fid(Shaped(high=float("nan")), dataset="mnist")
    with pytest.raises(ConfigError, match="'results/runs/mnist/ssgan/seed9' does not exist"):
        ssgan.fid("results/runs/mnist/ssgan/seed9")
    # the CLI says the same, exit 2
    (tmp_path / "big.py").write_text(
        "import torch\nfrom torch import nn\n\nclass Generator(nn.Module):\n"
        "    z_dim = 8\n    def forward(self, z):\n        return torch.zeros(len(z), 3, 64, 64)\n"
    )
    assert main(["fid", "--fake", str(tmp_path / "big.py"), "--real", "mnist"]) == 2
    assert "generator outputs 3x64x64 images" in capsys.readouterr().err
    assert main(["fid", "--fake", str(tmp_path / "nothing"), "--real", "mnist"]) == 2
    assert "fake input" in (err := capsys.readouterr().err) and "does not exist" in err
    assert main(["fid", "--fake", str(tmp_path / "big.py"), "--real", str(tmp_path / "nope")]) == 2
    assert "--real" in (err := capsys.readouterr().err) and "does not exist" in err
    assert main(["fid", "--fake", str(tmp_path / "big.py:other"), "--real", "mnist"]) == 2
    assert "defines no 'other'" in capsys.readouterr().err
    (tmp_path / "state.pt").write_bytes(io.torch_bytes({"w": torch.zeros(2)}))
    assert main(["fid", "--fake", str(tmp_path / "state.pt"), "--real", "mnist"]) == 2
    assert "is not a TorchScript module" in capsys.readouterr().err
    assert main(["fid", "--run", str(tmp_path), "--isc"]) == 2
    assert "--isc goes with --fake" in capsys.readouterr().err


class NoLatent(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, z):
        return torch.tanh(self.scale * z[:, :1024].view(-1, 1, 32, 32))


class DCGANLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(12, 1, 32), nn.Tanh())

    def forward(self, z):  # takes N x 12 x 1 x 1, as the PyTorch DCGAN example
        return self.net(z)


def test_the_latent_size_is_read_from_the_generator_or_asked_for():
    with pytest.raises(ConfigError, match=r"cannot tell the generator's latent size.*--z-dim N"):
        ssgan.fid(NoLatent(), dataset="mnist")
    G, source, shape = prepare(NoLatent(), (1, 32, 32), "mnist", z_dim=1024)
    assert (G.z_dim, source, shape) == (1024, "given", (1, 32, 32))
    G, source, _ = prepare(DCGANLike(), (1, 32, 32), "mnist")
    assert (G.z_dim, G.spatial, source) == (12, True, "first layer (ConvTranspose2d)")
    assert G(torch.zeros(3, 12)).shape == (3, 1, 32, 32)
    with pytest.raises(ConfigError, match=r"refuses latents of size 7 \(from given\)"):
        prepare(DCGANLike(), (1, 32, 32), "mnist", z_dim=7)
    assert latent_size(nn.Sequential(nn.Linear(5, 3)))[0] == 5
    scripted = torch.jit.script(nn.Sequential(nn.Linear(9, 1024), nn.Tanh()))
    assert latent_size(scripted) == (9, "first layer (Linear)")
    with pytest.raises(ConfigError, match="cannot tell"):
        latent_size(nn.Sequential(nn.Embedding(10, 4)))


# --- Inception Score ---------------------------------------------------------------------


def test_inception_score_without_logits_says_which_weights_it_needs(
    folders, fid_weights, tmp_path, capsys
):
    if fid_weights.origin is None:
        pytest.skip("the session weights are torch-fidelity's own (they carry logits)")
    args = protocol_args(tmp_path, fid_weights)
    assert main(["fid", "--fake", str(folders["A"]), "--real", "mnist", "--isc", *args]) == 2
    err = capsys.readouterr().err
    assert "Inception Score needs the Inception network's logits" in err
    assert extractor.TF_WEIGHTS in err and "fid.weights=PATH" in err
    assert not (tmp_path / "real_stats").exists()  # refused before any work


@pytest.mark.slow
def test_inception_score_with_logits_is_torch_fidelitys(folders, fid_weights, tmp_path):
    from torch_fidelity.metric_isc import isc_features_to_metric

    state = torch.load(fid_weights.path, map_location="cpu", weights_only=True)
    g = torch.Generator().manual_seed(0)
    state["fc.weight"] = 0.01 * torch.randn(state["fc.weight"].shape, generator=g)
    state["fc.bias"] = torch.zeros_like(state["fc.bias"])
    torch.save(state, tmp_path / "with_logits.pth")
    weights = extractor.resolve_weights({"weights": str(tmp_path / "with_logits.pth")})
    args = protocol_args(tmp_path, weights, "--out", str(tmp_path / "isc.json"), "--isc")
    assert main(["fid", "--fake", str(folders["A"]), "--real", "mnist", *args]) == 0
    rec = io.read_json(tmp_path / "isc.json")
    inception = extractor.Inception(weights, "cpu", logits=True)
    images = torch.stack([
        torch.from_numpy(__import__("numpy").array(Image.open(p)))[None]
        for p in sorted(folders["A"].glob("*.png"))
    ])  # fmt: skip
    inception.features(images, N)
    ref = isc_features_to_metric(torch.cat(inception.logits), 10, True, 2020)
    assert rec["isc_mean"] == pytest.approx(ref["inception_score_mean"], rel=1e-9)
    assert rec["isc_std"] == pytest.approx(ref["inception_score_std"], rel=1e-9)
    assert rec["isc_mean"] > 1 and rec["isc_splits"] == 10


# --- the one cache -----------------------------------------------------------------------


def test_one_cache_for_the_api_the_cli_and_the_workflow(tmp_path, monkeypatch):
    from ssgan.cache import cache_root
    from ssgan.config import resolve
    from ssgan.data.prepared import prepared_dir
    from ssgan.metrics.extractor import cache_dir

    monkeypatch.delenv("SSGAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = resolve("mnist", "wgan_gp", 0)
    assert cache_root() == tmp_path / "home" / ".cache" / "ssgan"
    assert cache_dir(cfg["fid"]) == cache_root() and prepared_dir(cfg) == cache_root() / "prepared"
    monkeypatch.setenv("SSGAN_CACHE_DIR", str(tmp_path / "moved"))
    assert cache_dir(cfg["fid"]) == tmp_path / "moved"
    assert prepared_dir(cfg) == tmp_path / "moved" / "prepared"
    assert cache_dir({"cache_dir": str(tmp_path / "fid")}) == tmp_path / "fid"  # fid.cache_dir

    # the workflow passes its own FID cache only when the suite config sets fid_cache
    def commands(*extra):
        out = subprocess.run(
            ["snakemake", "-n", "-p", "--cores", "1", "--configfile", "config/quick.yaml",
             "--config", f"results={tmp_path}/r", f"figures={tmp_path}/f", *extra],
            cwd=REPO, capture_output=True, text=True, timeout=wall_limit(600),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        text = out.stdout + out.stderr
        return [line for line in text.splitlines() if "ssgan fid" in line or "ssgan real-stats" in line]  # fmt: skip

    plain = commands()
    assert plain and not any("cache_dir" in c for c in plain)
    moved = commands(f"fid_cache={tmp_path}/fc")
    assert moved and all(f"fid.cache_dir={tmp_path}/fc" in c for c in moved)


# --- progress ----------------------------------------------------------------------------


def test_progress_in_a_log_is_lines_at_the_interval(monkeypatch, capsys):
    from ssgan.progress import Progress

    monkeypatch.setenv("SSGAN_PROGRESS_SECONDS", "1000")
    with Progress(5, "stage", "img") as bar:
        for _ in range(5):
            bar.update()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("stage:  20%") and "1/5" in lines[0]
    assert lines[1].startswith("stage: 100%") and "5/5" in lines[1]
    monkeypatch.setenv("SSGAN_PROGRESS_SECONDS", "0")
    with Progress(3, "every", "img") as bar:
        bar.update(3)
    assert capsys.readouterr().err.count("every:") == 1  # the last step is the closing line
