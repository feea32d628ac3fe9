"""Datasets: offline MNIST/Fashion-MNIST through SSGAN_DATA_ROOT, image folders at 64x64,
clear errors for missing, truncated and unreadable data."""

import gzip
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from ssgan import config as C
from ssgan.data import DATASETS, BatchStream, DataError, load_images
from tests.conftest import DATA_ROOT, TINY, ssgan_cli


@pytest.mark.parametrize("name,mean", [("mnist", 33.3), ("fashion_mnist", 72.9)])
def test_offline_idx_data_through_env(name, mean):
    assert os.environ["SSGAN_DATA_ROOT"] == str(DATA_ROOT)  # the package's order (conftest)
    cfg = C.resolve(name, "wgan_gp", 0)
    x = load_images(cfg)
    assert x.shape == (60000, 1, 32, 32) and x.dtype == torch.uint8
    assert float(x.float().mean()) == pytest.approx(mean, abs=0.5)
    assert load_images(cfg, "test").shape == (10000, 1, 32, 32)


def test_data_root_config_value_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SSGAN_DATA_ROOT", str(tmp_path / "nowhere"))
    cfg = C.resolve("mnist", "wgan_gp", 0)
    with pytest.raises(DataError):
        load_images(cfg)
    cfg = C.resolve(
        "mnist", "wgan_gp", 0, overrides={"data": {"root": str(DATA_ROOT), "max_images": 10}}
    )
    assert load_images(cfg).shape[0] == 10


def test_batch_stream_is_deterministic_and_resumable():
    imgs = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1).expand(50, 1, 2, 2).contiguous()
    a = BatchStream(imgs, 8, seed=1, device="cpu")
    seq = [a.next()[:, 0, 0, 0].tolist() for _ in range(14)]  # crosses two epochs (6 batches each)
    b = BatchStream(imgs, 8, seed=1, device="cpu")
    for _ in range(9):
        b.next()
    c = BatchStream(imgs, 8, seed=1, device="cpu")
    c.load_state_dict(b.state_dict())
    assert [c.next()[:, 0, 0, 0].tolist() for _ in range(5)] == seq[9:]
    first_epoch = sorted(v for s in seq[:6] for v in s)
    assert len(set(first_epoch)) == 48  # no repeats within an epoch
    assert BatchStream(imgs, 8, seed=2, device="cpu").next()[:, 0, 0, 0].tolist() != seq[0]


def make_folder(root, n=40, size=(80, 70)):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
            root / f"img{i:03d}.png"
        )
    return root


def test_image_folder_trains_at_64(tmp_path):
    folder = make_folder(tmp_path / "sketch")
    out = tmp_path / "run"
    ssgan_cli(
        "train",
        "--dataset",
        "image_folder",
        "--method",
        "ssgan",
        "--seed",
        "0",
        "--out",
        str(out),
        *TINY,
        "train.iterations=3",
        f"data.path={folder}",
        "train.batch_size=8",
        "train.n_critic=1",
    )
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "completed" and run["resolution"] == 64 and run["channels"] == 3
    assert run["dataset_kind"] == "image_folder"
    assert (
        len(
            [
                r
                for r in (out / "probe_sparsity.csv").read_text().splitlines()[1:]
                if r.startswith("3,")
            ]
        )
        == 3
    )


def test_image_folder_by_suite_config_entry(tmp_path):
    folder = make_folder(tmp_path / "sketch", n=10)
    suite = {"datasets": {"sketch": {"dataset": "image_folder", "data": {"path": str(folder)}}}}
    cfg = C.resolve("sketch", "ssgan", 0, file_cfg=suite)
    assert cfg["dataset"] == "image_folder" and cfg["label"] == "sketch"
    x = load_images(cfg)
    assert x.shape == (10, 3, 64, 64)


def test_missing_dataset_error_names_expected_files(tmp_path):
    proc = ssgan_cli(
        "train",
        "--dataset",
        "cifar10",
        "--method",
        "ssgan",
        "--seed",
        "0",
        "--out",
        str(tmp_path / "r"),
        *TINY,
        f"data.root={tmp_path}",
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "cifar-10-batches-py/data_batch_1" in proc.stderr and str(tmp_path) in proc.stderr
    assert "cifar-10-python.tar.gz" in proc.stderr  # how to obtain it
    for name in ("mnist", "stl10", "celeba_hq", "lsun_bedroom", "mini_imagenet"):
        with pytest.raises(DataError, match="Expected"):
            load_images(C.resolve(name, "ssgan", 0, overrides={"data": {"root": str(tmp_path)}}))
    assert not (tmp_path / "r" / "run.json").exists()


def test_truncated_idx_file_is_named(tmp_path):
    raw = gzip.decompress((DATA_ROOT / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "mnist").mkdir()
    bad = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz is truncated"):
        load_images(
            C.resolve("mnist", "ssgan", 0, overrides={"data": {"root": str(tmp_path)}}), "test"
        )
    bad.write_bytes(gzip.compress(raw)[:5000])  # a cut gzip stream
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz"):
        load_images(
            C.resolve("mnist", "ssgan", 0, overrides={"data": {"root": str(tmp_path)}}), "test"
        )


def test_unreadable_image_is_named(tmp_path):
    folder = make_folder(tmp_path / "imgs", n=5)
    (folder / "img002.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DataError, match="img002.png"):
        load_images(
            C.resolve("image_folder", "ssgan", 0, overrides={"data": {"path": str(folder)}})
        )


def test_registry_declares_every_paper_dataset():
    paper = {
        "mnist": 32,
        "fashion_mnist": 32,
        "cifar10": 32,
        "stl10": 48,
        "mini_imagenet": 64,
        "celeba_hq": 64,
        "lsun_bedroom": 64,
        "image_folder": 64,
    }
    assert {k: DATASETS[k].resolution for k in paper} == paper
    assert DATASETS["stl10"].splits[0] == "unlabeled"
