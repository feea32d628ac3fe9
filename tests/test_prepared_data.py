"""Prepared datasets and the real-format loaders, on small files of each release format built
here: a CIFAR-10 python-pickle batch, STL-10 binaries, an LSUN LMDB of encoded images, a
mini-ImageNet folder tree. Each is read through the loader a user's real files take; the
prepared array equals the loader's images bitwise; a damaged array is rebuilt; a killed
prepare-data resumes to a byte-identical array; concurrent calls produce one valid file."""

from __future__ import annotations

import hashlib
import io as pyio
import json
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssgan import config as C
from ssgan.data import BatchStream, DataError, load_images
from ssgan.data import folders as F
from ssgan.data.prepared import prepare, reference_images, training_images
from ssgan.data.registry import load_source, resize_uint8
from tests.conftest import REPO, TINY, fault_rng, ssgan_cli, wall_limit

lmdb = pytest.importorskip("lmdb")


def cfg_for(dataset: str, root: Path, prepared: Path, **data) -> dict:
    over = {"data": {"root": str(root), "prepared_dir": str(prepared), **data}}
    return C.resolve(dataset, "wgan_gp", 0, overrides=over)


def rng_images(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def jpeg(rgb: np.ndarray) -> bytes:
    buf = pyio.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


# ------------------------------------------------------------------ release-format fixtures
def make_cifar(root: Path) -> np.ndarray:
    """cifar-10-batches-py with 5 train batches of 7 images and a test batch of 5, pickled as
    the release's are (bytes keys, uint8 'data' rows of 3072 = 3 planes of 32 x 32)."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    allx = []
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        n = 5 if name == "test_batch" else 7
        x = np.random.default_rng(i).integers(0, 256, (n, 3072), dtype=np.uint8)
        batch = {
            b"batch_label": name.encode(),
            b"labels": list(range(n)),
            b"data": x,
            b"filenames": [f"{name}_{j}.png".encode() for j in range(n)],
        }
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))
        allx.append(x.reshape(n, 3, 32, 32))
    return np.concatenate(allx[:5])


def make_stl(root: Path, n: int = 9) -> np.ndarray:
    """stl10_binary/unlabeled_X.bin: images stored column-major (as the release's)."""
    d = root / "stl10_binary"
    d.mkdir(parents=True)
    x = np.random.default_rng(3).integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
    (d / "unlabeled_X.bin").write_bytes(x.transpose(0, 1, 3, 2).tobytes())
    return x


def make_lsun(root: Path, n: int = 200) -> list[bytes]:
    """lsun/bedroom_train_lmdb: JPEG bytes under 40-hex-digit keys (the release's layout),
    written in random order; returns the values in key order."""
    path = root / "lsun" / "bedroom_train_lmdb"
    path.mkdir(parents=True)
    imgs = rng_images(n, 72, 96, seed=4)  # not square: the center crop matters
    keys = [hashlib.sha1(str(i).encode()).hexdigest().encode() for i in range(n)]
    values = {k: jpeg(im) for k, im in zip(keys, imgs, strict=True)}
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for k in keys:
            txn.put(k, values[k])
    env.close()
    return [values[k] for k in sorted(keys)]


def make_mini_imagenet(root: Path, per_class: int = 6) -> list[Path]:
    """mini_imagenet/train/<wnid>/<wnid><index>.jpg at 84 x 84 (the release's size)."""
    files = []
    for c, wnid in enumerate(["n01532829", "n01558993", "n01704323"]):
        d = root / "mini_imagenet" / "train" / wnid
        d.mkdir(parents=True)
        for j, im in enumerate(rng_images(per_class, 84, 84, seed=10 + c)):
            files.append(d / f"{wnid}{j:08d}.jpg")
            files[-1].write_bytes(jpeg(im))
    return sorted(files)


# ---------------------------------------------------------------------------- loaders
def test_cifar10_pickle_batches_read_in_release_order(tmp_path):
    want = make_cifar(tmp_path)
    cfg = cfg_for("cifar10", tmp_path, tmp_path / "prep")
    raw = load_source(cfg)
    assert raw.shape == (35, 3, 32, 32) and raw.dtype == torch.uint8
    assert np.array_equal(raw.numpy(), want)  # batches 1..5 in order, planes R, G, B
    assert load_source(cfg, "test").shape == (5, 3, 32, 32)
    x = load_images(cfg)
    assert torch.equal(x, raw)  # 32 px already: no resize
    assert np.array_equal(np.asarray(prepare(cfg).images), x.numpy())


def test_cifar10_batch_that_is_not_plain_data_is_refused(tmp_path):
    make_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match=r"data_batch_3: UnpicklingError: refused to build"):
        load_images(cfg_for("cifar10", tmp_path, tmp_path / "prep"))


def test_stl10_binary_is_read_column_major_and_resized(tmp_path):
    want = make_stl(tmp_path)
    cfg = cfg_for("stl10", tmp_path, tmp_path / "prep")
    raw = load_source(cfg)
    assert np.array_equal(raw.numpy(), want)
    x = load_images(cfg)
    assert x.shape == (9, 3, 48, 48)
    assert torch.equal(x, resize_uint8(torch.from_numpy(want), 48, 3))
    assert np.array_equal(np.asarray(prepare(cfg).images), x.numpy())
    with open(tmp_path / "stl10_binary" / "unlabeled_X.bin", "r+b") as fh:
        fh.truncate(3 * 96 * 96 * 4 + 100)
    with pytest.raises(DataError, match="unlabeled_X.bin is truncated"):
        load_images(cfg)


def test_lsun_lmdb_reads_records_in_key_order_like_an_exported_folder(tmp_path):
    values = make_lsun(tmp_path)
    cfg = cfg_for("lsun_bedroom", tmp_path, tmp_path / "prep")
    src = load_source(cfg)
    assert isinstance(src, F.LMDBImages) and len(src) == 200
    x = load_images(cfg)
    assert x.shape == (200, 3, 64, 64) and x.dtype == torch.uint8
    assert 0 <= int(x.min()) < 60 and 200 < int(x.max()) <= 255
    # the same bytes as files named by key: the folder path gives the same images, in order
    exported = tmp_path / "export" / "lsun_bedroom" / "train"
    exported.mkdir(parents=True)
    for i, v in enumerate(values):
        (exported / f"{i:04d}.jpg").write_bytes(v)
    folder = load_images(cfg_for("lsun_bedroom", tmp_path / "export", tmp_path / "prep"))
    assert torch.equal(x, folder)
    p = prepare(cfg)
    assert np.array_equal(np.asarray(p.images), x.numpy())
    assert p.record["sha256"] == hashlib.sha256(x.numpy().tobytes()).hexdigest()


def test_mini_imagenet_tree_prepared_with_workers_equals_the_loader(tmp_path):
    files = make_mini_imagenet(tmp_path)
    cfg = cfg_for("mini_imagenet", tmp_path, tmp_path / "prep", prepare_chunk=4, num_workers=2)
    src = load_source(cfg)
    assert src.files == files  # sorted paths: classes in order, then images
    x = load_images(cfg)
    assert x.shape == (18, 3, 64, 64)
    first = F.decode(files[0], 3, 64)[0]
    assert torch.equal(x[0], first)
    p = prepare(cfg)
    assert p.built and p.record["chunks"] == 5 and p.record["workers"] == 2
    assert np.array_equal(np.asarray(p.images), x.numpy())
    # content hash stable across runs and chunkings: a fresh build elsewhere, one chunk
    q = prepare(cfg_for("mini_imagenet", tmp_path, tmp_path / "prep2", prepare_chunk=1000))
    assert q.record["sha256"] == p.record["sha256"]
    assert q.path.name == p.path.name and q.path.read_bytes() == p.path.read_bytes()


def test_unreadable_image_in_a_worker_is_named(tmp_path):
    files = make_mini_imagenet(tmp_path, per_class=3)
    files[7].write_bytes(b"\xff\xd8\xff not really a jpeg")
    cfg = cfg_for("mini_imagenet", tmp_path, tmp_path / "prep", prepare_chunk=2, num_workers=2)
    with pytest.raises(DataError, match=f"cannot read image {files[7]}"):
        prepare(cfg)
    assert not list((tmp_path / "prep").glob("*.npy"))


# ---------------------------------------------------------------------------- the array
def test_truncated_or_modified_array_is_rebuilt_never_trusted(tmp_path, capsys):
    make_mini_imagenet(tmp_path, per_class=2)
    cfg = cfg_for("mini_imagenet", tmp_path, tmp_path / "prep")
    p = prepare(cfg)
    good, path = p.path.read_bytes(), p.path
    del p
    assert not prepare(cfg).built  # valid: opened, not rebuilt
    flipped = bytearray(good)
    flipped[-5] ^= 1  # same size, one pixel changed
    for bad, why in [(good[:-1000], "(unreadable"), (good + b"\0", "bytes"), (flipped, "sha256")]:
        path.write_bytes(bad)
        q = prepare(cfg)
        err = capsys.readouterr().err
        assert q.built and f"{path.name} rejected" in err and why in err, err
        assert path.read_bytes() == good
    path.with_suffix(".json").unlink()
    assert prepare(cfg).built and "no readable sidecar" in capsys.readouterr().err


def test_unwritable_prepared_dir_is_a_clean_error(tmp_path, capsys):
    from ssgan.cli import main

    make_mini_imagenet(tmp_path, per_class=1)
    (tmp_path / "file").write_text("x")
    code = main(["prepare-data", "--dataset", "mini_imagenet", f"data.root={tmp_path}",
                 f"data.prepared_dir={tmp_path / 'file' / 'prep'}"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "cannot write prepared arrays to" in err and "Traceback" not in err


def test_a_changed_source_file_gives_a_new_array(tmp_path):
    files = make_mini_imagenet(tmp_path, per_class=2)
    cfg = cfg_for("mini_imagenet", tmp_path, tmp_path / "prep")
    a = prepare(cfg)
    files[0].write_bytes(jpeg(rng_images(1, 90, 84, seed=99)[0]))
    b = prepare(cfg)
    assert b.built and b.path != a.path and b.record["sha256"] != a.record["sha256"]


def test_second_run_never_decodes_and_real_stats_read_the_same_array(tmp_path, monkeypatch):
    make_mini_imagenet(tmp_path, per_class=4)
    cfg = cfg_for("mini_imagenet", tmp_path, tmp_path / "prep", prepare_chunk=5)
    cfg["fid"]["n_real"] = 10
    want = load_images(cfg).numpy()
    prepare(cfg)

    def refuse(*a, **k):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(F, "decode", refuse)
    x = training_images(cfg)
    assert isinstance(x, torch.Tensor) and np.array_equal(x.numpy(), want)
    ref = reference_images(cfg, "train", 10)
    assert np.array_equal(np.asarray(ref), want[:10])
    assert len(list((tmp_path / "prep").glob("*.npy"))) == 1  # the training array itself
    cfg["data"]["in_memory_max_mb"] = 0
    m = training_images(cfg)
    assert isinstance(m, np.memmap)  # large: read by index from the memory map
    a, b = BatchStream(x, 4, seed=2, device="cpu"), BatchStream(m, 4, seed=2, device="cpu")
    for _ in range(5):  # crosses an epoch (12 images, 3 batches)
        assert torch.equal(a.next(), b.next())
    state = b.state_dict()
    after = [b.next() for _ in range(3)]
    b.load_state_dict(state)  # the batch read ahead is discarded; the order is the state's
    assert all(torch.equal(b.next(), w) for w in after)


def test_training_from_the_memory_map_is_bitwise_the_in_memory_run(tmp_path):
    from ssgan.training.loop import train

    over = C.parse_overrides(
        TINY + ["train.iterations=4", "data.max_images=64", f"data.prepared_dir={tmp_path / 'p'}"]
    )
    cfg = C.resolve("mnist", "wgan_gp", 0, overrides=over)
    assert train(cfg, tmp_path / "mem") == 0
    cfg["data"]["in_memory_max_mb"] = 0
    assert train(cfg, tmp_path / "map") == 0
    for f in ("generator.pt", "critic.pt"):
        a = torch.load(tmp_path / "mem" / f, weights_only=True)
        b = torch.load(tmp_path / "map" / f, weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)
    for f in ("probe_weights.csv", "probe_dead_units.csv"):
        assert (tmp_path / "mem" / f).read_bytes() == (tmp_path / "map" / f).read_bytes()


# ------------------------------------------------------------ kill and concurrent calls
def _prepare_cmd(root: Path, prep: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "ssgan.cli", "prepare-data", "--dataset", "lsun_bedroom",
        "--out", str(out), f"data.root={root}", f"data.prepared_dir={prep}", *extra,
    ]  # fmt: skip


def test_killed_prepare_data_resumes_to_a_byte_identical_array(tmp_path):
    make_lsun(tmp_path, n=240)
    want = prepare(cfg_for("lsun_bedroom", tmp_path, tmp_path / "ref")).path.read_bytes()
    prep = tmp_path / "prep"
    kill_after = fault_rng("prepare-data kill").randint(2, 8)  # chunks of 10 done (of 24)
    proc = subprocess.Popen(
        _prepare_cmd(tmp_path, prep, tmp_path / "p.json", "data.prepare_chunk=10"),
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + wall_limit(120)
    while len(list(prep.glob("*.chunks10/*.npz"))) < kill_after and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    done = len(list(prep.glob("*.chunks10/*.npz")))
    assert kill_after <= done < 24 and not list(prep.glob("*.npy")), done
    again = ssgan_cli(
        *_prepare_cmd(tmp_path, prep, tmp_path / "p.json", "data.prepare_chunk=10")[3:]
    )
    assert f" {done + 1}/24 [" in again.stderr  # resumed after the chunks on disk (tqdm status)
    assert next(prep.glob("*.npy")).read_bytes() == want
    assert not list(prep.glob("*.chunks10"))  # the chunks are gone once the array is written
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["splits"][0]["n_images"] == 240


def test_concurrent_prepare_data_calls_produce_one_valid_file(tmp_path):
    make_lsun(tmp_path, n=120)
    prep = tmp_path / "prep"
    procs = [
        subprocess.Popen(
            _prepare_cmd(tmp_path, prep, tmp_path / f"{i}.json", "data.prepare_chunk=10"),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    assert all(p.wait(timeout=wall_limit(300)) == 0 for p in procs), [
        p.stderr.read()[-2000:] for p in procs
    ]
    records = [json.loads((tmp_path / f"{i}.json").read_text())["splits"][0] for i in range(2)]
    assert sum(r["built"] for r in records) == 1  # one built it, the others found it
    assert len({r["sha256"] for r in records}) == 1
    name = Path(records[0]["prepared"])
    left = sorted(p.name for p in prep.iterdir() if p.suffix != ".lock")
    assert left == [name.with_suffix(".json").name, name.name]  # no chunks, no temporaries
    cfg = cfg_for("lsun_bedroom", tmp_path, prep)
    p = prepare(cfg)
    assert not p.built and p.record["sha256"] == records[0]["sha256"]


def test_progress_in_a_job_log_is_tqdm_status_lines_ending_at_every_chunk(tmp_path, capsys):
    make_mini_imagenet(tmp_path, per_class=2)
    cfg = cfg_for("mini_imagenet", tmp_path, tmp_path / "prep", prepare_chunk=2)
    p = prepare(cfg)
    chunks = -(-len(p.images) // 2)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("prepare ")]
    assert chunks > 1 and lines, "no progress line"
    # tqdm's status: name, percent, done/total, [elapsed<left, rate]; the last one at 100%
    assert re.fullmatch(
        rf"prepare {re.escape(p.path.name)}: 100% {chunks}/{chunks} \[\d\d:\d\d<00:00, .*chunk/s\]",
        lines[-1],
    ), lines[-1]
