"""Bad input and faults a new user runs into, one row each: every one ends in a one-line error
naming the problem (exit 2, no traceback) or in the right result, and no finished result is
lost or misattributed. In-process ``ssgan.cli.main`` calls on tiny runs; ``snakemake -n`` only
where the workflow's own check is the point; one slow end-to-end test of config edits."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ssgan import config as C
from ssgan.cli import main
from ssgan.metrics.evaluate import HISTORY, protocol_id, write_result
from ssgan.training import checkpoint
from tests.conftest import TINY, job_counts, snakemake, tiny_suite

RUN = ["--dataset", "mnist", "--method", "ssgan", "--seed", "0"]


def cli(capsys, *argv: str) -> tuple[int, str]:
    """(exit code, stderr) of ``ssgan ARGV`` run in this process."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A completed tiny ssgan run (copied by the cases that damage it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", *RUN, "--out", str(out), *TINY, "fid.checkpoints=[8]"]) == 0
    return out


def copy_run(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def suite_file(tmp_path: Path, **changes) -> Path:
    data = {"defaults": {"model": {"width": 8}}, "datasets": {"mnist": {}}}
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return write(tmp_path / "suite.yaml", yaml.safe_dump(data))


# ------------------------------------------------------------------ config: one-line errors
# id -> (extra train args (callable of tmp_path or a list), strings the error must contain)
CONFIG_ERRORS = {
    # 1. identity: the run's place fixes dataset, method and seed
    "override_method": (["method=wgan_gp"], ["'method' is 'wgan_gp'", "method 'ssgan'"]),
    "override_seed": (["seed=7"], ["'seed' is 7", "seed 0"]),
    "override_dataset": (["dataset=fashion_mnist"], ["'dataset' is 'fashion_mnist'"]),
    "override_label": (["label=other"], ["'label' is 'other'"]),
    "suite_defaults_method": (
        lambda t: ["--config", suite_file(t, **{"defaults/method": "wgan_gp"})],
        ["'method' is 'wgan_gp' in defaults"],
    ),
    "suite_entry_seed": (
        lambda t: ["--config", suite_file(t, **{"datasets/mnist/seed": 3})],
        ["'seed' is 3 in datasets.mnist"],
    ),
    "run_config_file_method": (
        lambda t: ["--config", write(t / "run.yaml", "method: wgan_gp\n")],
        ["'method' is 'wgan_gp' in the --config file"],
    ),
    # 3. values that used to fail inside a job
    "batch_size_1": (["train.batch_size=1"], ["'train.batch_size' must be at least 2"]),
    "beta1_2": (["train.beta1=2.0"], ["'train.beta1' must be a number in [0, 1) (Adam), got 2.0"]),
    "beta2_negative": (["train.beta2=-0.1"], ["'train.beta2' must be a number in [0, 1) (Adam)"]),
    "beta_1_exactly": (
        ["train.beta2=1"],
        ["'train.beta2' must be a number in [0, 1) (Adam), got 1"],
    ),
    "gp_lambda_negative": (["train.gp_lambda=-1"], ["'train.gp_lambda' must be >= 0, got -1"]),
    "device_gpu": (["train.device=gpu"], ["'train.device' must be auto, cpu, cuda or cuda:N"]),
    "device_number": (["train.device=1"], ["'train.device' must be auto, cpu, cuda or cuda:N"]),
    "fid_device_typo": (["fid.device=cuda0"], ["'fid.device' must be auto, cpu, cuda or cuda:N"]),
    "fid_checkpoints_scalar": (["fid.checkpoints=2"], ["'fid.checkpoints' must be a list"]),
    "fid_checkpoints_beyond_end": (
        ["fid.checkpoints=[5, 99]"],
        ["'fid.checkpoints' must list iterations in 1..train.iterations (12), got 99"],
    ),
    "lr_string": (["train.lr=fast"], ["'train.lr' must be a number, got 'fast'"]),
    "data_root_number": (["data.root=5"], ["'data.root' must be a path"]),
    "num_workers_negative": (
        ["data.num_workers=-1"],
        ["'data.num_workers' must be a non-negative integer, got -1"],
    ),
    "small_images_typo": (["data.small_images=grow"], ["'data.small_images' must be one of"]),
    "malformed_override": (["train.lr=[1"], ["override 'train.lr=[1'", "malformed YAML"]),
    "override_replaces_section": (["train=3"], ["'train=3' would replace the section 'train'"]),
    "override_into_value": (["train.lr=1", "train.lr.x=2"], ["'train.lr.x=2' sets a key inside"]),
    "duplicate_yaml_key": (
        lambda t: ["--config", write(t / "dup.yaml", "train:\n  lr: 1.0e-4\ntrain:\n  beta1: 0\n")],
        ["dup.yaml:3:1: duplicate key 'train' (first at line 1)"],
    ),
    "duplicate_nested_key": (
        lambda t: ["--config", write(t / "dup.yaml", "train:\n  lr: 1.0e-4\n  lr: 2.0e-4\n")],
        ["dup.yaml:3:3: duplicate key 'lr'"],
    ),
    "malformed_yaml_file": (
        lambda t: ["--config", write(t / "bad.yaml", "train:\n  lr: [1, 2\n")],
        ["bad.yaml:3:1: malformed YAML"],
    ),
    "yaml_file_not_a_mapping": (
        lambda t: ["--config", write(t / "list.yaml", "- 1\n- 2\n")],
        ["must hold a mapping"],
    ),
}
if not torch.cuda.is_available():
    CONFIG_ERRORS["cuda_without_gpu"] = (
        ["train.device=cuda"],
        ["'train.device' is 'cuda' but no CUDA device is available"],
    )


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_bad_config_is_one_line_before_anything_is_written(tmp_path, capsys, case):
    extra, needles = CONFIG_ERRORS[case]
    extra = extra(tmp_path) if callable(extra) else extra
    out = tmp_path / "out"
    code, err = cli(capsys, "train", *RUN, "--out", out, *TINY, *extra)
    assert code == 2 and err.startswith("ssgan train: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not out.exists()


FOLDER_RUN = ["--dataset", "image_folder", "--method", "wgan_gp", "--seed", "0"]
PATH_ERRORS = {  # case -> (argv after `train --out OUT`, exact message); t = tmp_path
    "supersede_file": (
        lambda t: [*RUN, "--supersede", write(t / "notes.txt", "mine")],
        lambda t: (
            f"--supersede {t}/notes.txt is a file; expected the folder superseded runs move to"
        ),
    ),
    "supersede_inside_out": (
        lambda t: [*RUN, "--supersede", t / "out" / "old"],
        lambda t: (
            f"--supersede {t}/out/old is inside --out {t}/out; expected a folder outside "
            "the run (the workflow uses results/superseded)"
        ),
    ),
    "config_folder": (
        lambda t: [*RUN, "--config", t],
        lambda t: f"config file {t} is a folder; expected a YAML file",
    ),
    "data_path_file": (
        lambda t: [*FOLDER_RUN, f"data.path={write(t / 'img.txt', 'x')}"],
        lambda t: (
            f"config key 'data.path' of dataset 'image_folder' is '{t}/img.txt': "
            f"{t}/img.txt is a file; expected a folder of images"
        ),
    ),
    "data_path_empty": (
        lambda t: [*FOLDER_RUN, f"data.path={write(t / 'd' / 'a.txt', 'x').parent}"],
        lambda t: (
            f"config key 'data.path' of dataset 'image_folder' is '{t}/d': {t}/d holds no "
            "image files (.bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp); expected a folder of "
            "images"
        ),
    ),
    "data_path_missing": (
        lambda t: [*FOLDER_RUN, f"data.path={t}/nope"],
        lambda t: (
            f"config key 'data.path' of dataset 'image_folder' is '{t}/nope': {t}/nope "
            "does not exist; expected a folder of images"
        ),
    ),
}


@pytest.mark.parametrize("case", list(PATH_ERRORS))
def test_wrong_kind_of_path_is_one_line_naming_it_and_creates_nothing(tmp_path, capsys, case):
    argv, message = PATH_ERRORS[case]
    argv = argv(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    code, err = cli(capsys, "train", "--out", tmp_path / "out", *argv, *TINY)
    assert code == 2 and err.count("\n") == 1, err
    assert err.split(": error: ", 1)[1].strip() == message(tmp_path)
    assert sorted(tmp_path.rglob("*")) == before  # no run folder, no superseded tree


def test_fid_weights_that_are_a_folder_are_named(tmp_path):
    from ssgan.metrics.extractor import WeightsError, resolve_weights

    with pytest.raises(WeightsError) as err:
        resolve_weights({"weights": str(tmp_path), "cache_dir": str(tmp_path / "c")})
    assert str(err.value) == (
        f"Inception weights file {tmp_path} (from config key fid.weights) is a folder; "
        "expected a .pth or TorchScript file"
    )


def test_tf32_on_the_cpu_is_a_recorded_note_and_keeps_the_fp32_hash(tmp_path, capsys):
    """TF32 is a CUDA mode: on the CPU the run is fp32 bit for bit, so it is recorded as fp32
    (with a note) and keeps the fp32 runs' config hash, hence their pairs."""
    runs = {}
    for precision in ("fp32", "tf32"):
        out = tmp_path / precision
        code, err = cli(capsys, "train", *RUN, "--out", out, *TINY, f"train.precision={precision}")
        assert code == 0, err
        runs[precision] = json.loads((out / "run.json").read_text())
        assert ("train.precision tf32 has no effect on cpu" in err) == (precision == "tf32")
    fp32, tf32 = runs["fp32"], runs["tf32"]
    assert tf32["config_hash"] == fp32["config_hash"]
    assert tf32["config"]["train"]["precision"] == tf32["execution"]["precision"] == "fp32"
    assert fp32["settings_without_effect"] == []
    assert tf32["settings_without_effect"] == [
        "train.precision tf32 has no effect on cpu (a CUDA tensor-core mode): the run computes, "
        "and is recorded, as fp32"
    ]
    assert (tmp_path / "tf32/generator.pt").read_bytes() == (
        tmp_path / "fp32/generator.pt"
    ).read_bytes()


@pytest.mark.parametrize("update_every, explores", [(1000, False), (4, True)])
def test_stu_gan_that_never_explores_is_a_recorded_note(tmp_path, capsys, update_every, explores):
    argv = ["--dataset", "mnist", "--method", "stu_gan", "--seed", "0", "--out", tmp_path / "r"]
    code, err = cli(capsys, "train", *argv, *TINY, f"stu.update_every={update_every}")
    assert code == 0, err
    notes = json.loads((tmp_path / "r" / "run.json").read_text())["settings_without_effect"]
    expected = (
        f"stu.update_every ({update_every}) >= train.iterations (12): STU-GAN never explores; "
        "its sparse mask stays the initial one"
    )
    assert notes == ([] if explores else [expected])
    assert (expected in err) != explores


@pytest.mark.parametrize("start", [11, 12, 20])
def test_ema_start_at_or_beyond_the_last_iteration(tmp_path, capsys, start):
    """From train.ema_start = train.iterations on, the moving average is a copy of G: scoring it
    (fid.generator ema) is refused before anything runs, keeping it is a recorded note."""
    ema = ["train.ema_decay=0.9", f"train.ema_start={start}"]
    code, err = cli(
        capsys, "train", *RUN, "--out", tmp_path / "e", *TINY, *ema, "fid.generator=ema"
    )
    copy = start >= 12  # TINY trains 12 generator iterations
    assert (code == 2) == copy and (tmp_path / "e").exists() != copy, err
    if copy:
        assert err == (
            f"ssgan train: error: config key 'fid.generator' is ema, but train.ema_start ({start}) "
            ">= train.iterations (12): the moving average is a copy of G throughout, so it would "
            "score G itself; lower train.ema_start or set fid.generator: final\n"
        )
    code, err = cli(capsys, "train", *RUN, "--out", tmp_path / "f", *TINY, *ema)
    assert code == 0, err
    notes = json.loads((tmp_path / "f" / "run.json").read_text())["settings_without_effect"]
    note = (
        f"train.ema_start ({start}) >= train.iterations (12): the moving average of G is a copy "
        "of G throughout; generator_ema.pt equals generator.pt"
    )
    assert notes == ([note] if copy else []) and (note in err) == copy
    G = torch.load(tmp_path / "f" / "generator.pt", weights_only=True)
    avg = torch.load(tmp_path / "f" / "generator_ema.pt", weights_only=True)
    assert all(torch.equal(G[k], avg[k]) for k in G) == copy


def test_fid_of_a_missing_folder_says_it_does_not_exist(tmp_path, capsys):
    import ssgan

    missing = tmp_path / "runs" / "mnist" / "ssgna" / "seed0"
    code, err = cli(capsys, "fid", "--run", missing)
    assert code == 2 and err == f"ssgan fid: error: run directory {missing} does not exist\n"
    with pytest.raises(C.ConfigError, match=f"^fid source '{re.escape(str(missing))}' does not"):
        ssgan.fid(missing)
    missing.mkdir(parents=True)  # a folder that is not a run: named as such
    code, err = cli(capsys, "fid", "--run", missing)
    assert (
        code == 2 and err == f"ssgan fid: error: {missing} is not a run directory (no run.json)\n"
    )


def test_numbers_in_any_yaml_spelling(tmp_path):
    cfg = C.resolve("mnist", "ssgan", 0, overrides=C.parse_overrides(["train.lr=2e-4"]))
    assert cfg["train"]["lr"] == 2e-4
    suite = C.load_yaml(write(tmp_path / "s.yaml", "defaults:\n  train: {lr: 3E-4}\n"))
    assert suite["defaults"]["train"]["lr"] == 3e-4
    # Snakemake's YAML 1.1 reader hands '2e-4' over as a string: still a number here
    cfg = C.resolve("mnist", "ssgan", 0, overrides={"train": {"lr": "2e-4", "beta1": "0"}})
    assert cfg["train"]["lr"] == 2e-4 and cfg["train"]["beta1"] == 0.0
    # equal identity keys are allowed (a run config written out and read back)
    assert C.resolve("mnist", "ssgan", 3, overrides={"seed": 3, "method": "ssgan"})["seed"] == 3


def test_config_hash_excludes_what_it_says():
    base = C.resolve("mnist", "ssgan", 0)
    same = C.parse_overrides(
        ["train.device=cpu", "train.log_every=7", "train.checkpoint_every=3", "fid.n_fake=10"]
        + ["fid.device=cpu", "data.num_workers=2", "data.root=/x", "train.sample_every=4"]
    )
    assert C.config_hash(base) == C.config_hash(C.resolve("mnist", "ssgan", 0, overrides=same))
    for changed in (["train.lr=2e-4"], ["fid.checkpoints=[5]"], ["sastm.gate=sigmoid"]):
        other = C.resolve("mnist", "ssgan", 0, overrides=C.parse_overrides(changed))
        assert C.config_hash(base) != C.config_hash(other), changed
    # WGAN-GP never reads sastm.*: an edit there leaves its runs alone
    wgan = C.resolve("mnist", "wgan_gp", 0)
    gate = C.resolve("mnist", "wgan_gp", 0, overrides={"sastm": {"gate": "sigmoid"}})
    assert C.config_hash(wgan) == C.config_hash(gate)


# ---------------------------------------------------------- 4 + 5. readers and overwrites


def damage_run_json(run: Path) -> None:
    (run / "run.json").write_text('{"status": "compl')


def test_damaged_run_json_is_named_by_sample_and_fid(tmp_path, capsys, finished):
    run = copy_run(finished, tmp_path)
    damage_run_json(run)
    for argv in (["sample", "--run", run, "--out", tmp_path / "g.png"], ["fid", "--run", run]):
        code, err = cli(capsys, *argv)
        assert code == 2 and f"{run / 'run.json'}: unreadable run record" in err, err
        assert "JSONDecodeError" in err and err.count("\n") == 1
    assert not (tmp_path / "g.png").exists() and not (run / "fid.json").exists()


def test_run_json_that_is_not_a_record_is_named(tmp_path, capsys, finished):
    run = copy_run(finished, tmp_path)
    (run / "run.json").write_text("[1, 2]")
    code, err = cli(capsys, "sample", "--run", run, "--out", tmp_path / "g.png")
    assert code == 2 and "run.json: unreadable run record: not a JSON object" in err


def test_run_json_without_its_keys_is_named(tmp_path, capsys, finished):
    run = copy_run(finished, tmp_path)
    (run / "run.json").write_text('{"status": "completed"}')
    code, err = cli(capsys, "fid", "--run", run)
    assert code == 2 and "damaged run record (missing dataset, method, seed, config)" in err


def test_truncated_generator_is_named(tmp_path, capsys, finished):
    run = copy_run(finished, tmp_path)
    data = (run / "generator.pt").read_bytes()
    (run / "generator.pt").write_bytes(data[: len(data) // 2])
    code, err = cli(capsys, "sample", "--run", run, "--out", tmp_path / "g.png")
    assert code == 2 and "generator.pt: cannot load generator weights" in err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--n", "0"], "--n must be a positive number of samples, got 0"),
        (["--n", "-3"], "--n must be a positive number of samples, got -3"),
        (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
        (["--out", "{tmp}"], "is a directory; give the PNG file to write"),
    ],
)
def test_sample_arguments(tmp_path, capsys, finished, argv, needle):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "g.png")]
    code, err = cli(capsys, "sample", "--run", finished, *argv)
    assert code == 2 and needle in err, err
    assert not (tmp_path / "g.png").exists()


def test_train_out_that_is_a_file(tmp_path, capsys):
    out = write(tmp_path / "notes.txt", "mine")
    code, err = cli(capsys, "train", *RUN, "--out", out, *TINY)
    assert code == 2 and "is a file, not a run directory" in err
    assert out.read_text() == "mine"


@pytest.mark.parametrize("command", ["prepare-data", "real-stats"])
def test_record_out_that_is_a_directory(tmp_path, capsys, command):
    code, err = cli(capsys, command, "--dataset", "mnist", "--out", tmp_path)
    assert code == 2 and f"--out {tmp_path} is a directory; give the JSON file to write" in err


def test_fid_of_a_missing_snapshot_is_named(tmp_path, capsys, finished):
    code, err = cli(capsys, "fid", "--run", finished, "--checkpoint", "5")
    assert code == 2 and "no generator snapshot of iteration 5" in err


if not torch.cuda.is_available():

    def test_fid_on_cuda_without_a_gpu(tmp_path, capsys, finished):
        code, err = cli(capsys, "fid", "--run", finished, "fid.device=cuda:1")
        assert code == 2 and "'fid.device' is 'cuda:1' but no CUDA device is available" in err


def test_another_method_is_refused_naming_the_keys(tmp_path, capsys, finished):
    run = copy_run(finished, tmp_path)
    before = (run / "generator.pt").read_bytes()
    argv = ["--dataset", "mnist", "--method", "wgan_gp", "--seed", "0", "--out", run]
    code, err = cli(capsys, "train", *argv, *TINY, "fid.checkpoints=[8]")
    assert code == 2 and "holds a run with a different config" in err
    assert "method: 'ssgan' -> 'wgan_gp'" in err and "sastm" not in err
    assert (run / "generator.pt").read_bytes() == before


def test_changed_value_is_refused_naming_it(tmp_path, capsys, finished):
    run = copy_run(finished, tmp_path)
    code, err = cli(
        capsys, "train", *RUN, "--out", run, *TINY, "fid.checkpoints=[8]", "train.lr=3e-4"
    )
    assert code == 2 and "train.lr: 0.0001 -> 0.0003" in err, err


def test_io_cadence_edit_keeps_the_finished_run(tmp_path, capsys, finished):
    run = copy_run(finished, tmp_path)
    mtime = (run / "generator.pt").stat().st_mtime_ns
    code, err = cli(
        capsys, "train", *RUN, "--out", run, *TINY, "fid.checkpoints=[8]", "train.log_every=3"
    )
    assert code == 0 and "already completed" in err
    assert (run / "generator.pt").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("damage", ['{"status": "compl', "[1, 2]", '{"seed": 0}'])
def test_damaged_run_json_is_restored_from_its_copy_by_train(tmp_path, capsys, finished, damage):
    run = copy_run(finished, tmp_path)
    good = (run / "run.json").read_text()
    (run / "run.json").write_text(damage)
    code, err = cli(capsys, "train", *RUN, "--out", run, *TINY, "fid.checkpoints=[8]")
    assert code == 0 and "unreadable run record; ignored" in err and "already completed" in err
    assert json.loads((run / "run.json").read_text()) == json.loads(good)


def test_unreadable_records_never_let_another_run_in(tmp_path, capsys, finished):
    """Weights and fid.json without a readable record: refused, every file kept."""
    run = copy_run(finished, tmp_path)
    write(run / "fid.json", '{"fid": 12.5}')
    damage_run_json(run)
    shutil.rmtree(run / "checkpoints")
    argv = ["--dataset", "mnist", "--method", "wgan_gp", "--seed", "0", "--out", run]
    code, err = cli(capsys, "train", *argv, *TINY)
    assert code == 2 and "holds generator.pt, critic.pt, fid.json but no readable run record" in err
    assert json.loads((run / "fid.json").read_text()) == {"fid": 12.5}
    assert (run / "generator.pt").is_file()


def test_supersede_moves_the_old_run_aside_with_its_hash(tmp_path, capsys, finished):
    run = copy_run(finished, tmp_path)
    old = json.loads((run / "run.json").read_text())
    (run / "run.json").unlink()  # as Snakemake leaves it before rerunning the job
    write(run / "fid.json", '{"fid": 12.5}')
    code, err = cli(
        capsys, "train", *RUN, "--out", run, *TINY, "train.lr=3e-4",
        "--supersede", tmp_path / "superseded",
    )  # fmt: skip
    assert code == 0 and "moved to" in err
    moved = tmp_path / "superseded" / "mnist" / "ssgan" / f"seed0-{old['config_hash'][:12]}"
    assert json.loads((moved / "run.json").read_text())["config_hash"] == old["config_hash"]
    assert (moved / "generator.pt").is_file() and (moved / "fid.json").is_file()
    new = json.loads((run / "run.json").read_text())
    assert new["status"] == "completed" and new["config"]["train"]["lr"] == 3e-4
    assert not (run / "fid.json").exists()


def _foreign_state(run: Path) -> dict:
    state = checkpoint.load_file(checkpoint.list_checkpoints(run / "checkpoints")[0][1])
    state["G"] = {k: torch.zeros(1) for k in state["G"]}  # same keys, other network
    return state


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda run: {"iteration": 99, "G": {}}, "not a training checkpoint (missing"),
        (_foreign_state, "its G weights do not fit this run's network"),
        (lambda run: {**_foreign_state(run), "config_hash": "f" * 64}, "made with another config"),
    ],
)
def test_checkpoint_that_does_not_fit_the_run_is_rejected(tmp_path, capsys, finished, make, reason):
    """A checkpoint with a valid checksum but foreign content: rejected like a corrupt one
    (logged), and the run resumes from the older good one to the same weights."""
    run = copy_run(finished, tmp_path)
    reference = torch.load(run / "generator.pt", weights_only=True)
    for name in ("generator.pt", "critic.pt"):
        (run / name).unlink()
    record = json.loads((run / "run.json").read_text())
    record.update(status="preempted", iteration=8)
    (run / "run.json").write_text(json.dumps(record))
    for it, path in checkpoint.list_checkpoints(run / "checkpoints"):
        if it > 8:
            path.unlink()
    checkpoint.save(run / "checkpoints", 10, make(run), keep=5)
    code, err = cli(capsys, "train", *RUN, "--out", run, *TINY, "fid.checkpoints=[8]")
    assert code == 0, err
    events = json.loads((run / "run.json").read_text())["events"]
    rejected = [e for e in events if e["kind"] == "checkpoint_rejected"]
    assert (
        rejected
        and reason in rejected[-1]["detail"]
        and "ckpt_00000010.pt" in rejected[-1]["detail"]
    )
    assert (
        f"{run}: checkpoint rejected: {rejected[-1]['detail']}; resuming from an older one" in err
    )
    assert any(e["kind"] == "resumed" and e["iteration"] == 8 for e in events)
    after = torch.load(run / "generator.pt", weights_only=True)
    assert all(torch.equal(after[k], reference[k]) for k in reference)


def _fid_record(**kw) -> dict:
    rec = {"status": "ok", "fid": 10.0, "kid_mean": 0.1, "iteration": 12, "n_fake": 100}
    rec.update(kw)
    return rec


def test_fid_under_another_protocol_is_kept_in_history(tmp_path):
    path = tmp_path / "fid.json"
    history = tmp_path / HISTORY
    assert write_result(path, _fid_record()) is None
    first = json.loads(path.read_text())
    assert first["protocol_id"] == protocol_id(first)
    assert write_result(path, _fid_record()) is None  # the same protocol again: no note
    path.unlink()  # Snakemake removes fid.json before it reruns the job
    note = write_result(path, _fid_record(n_fake=50, fid=11.0))
    assert f"the earlier record (protocol {first['protocol_id']}) is kept in {HISTORY}" in note
    kept = [json.loads(line) for line in history.read_text().splitlines()]
    assert [k["record"]["fid"] for k in kept] == [10.0, 10.0, 11.0]
    assert kept[0]["protocol_id"] == first["protocol_id"] != kept[2]["protocol_id"]
    assert json.loads(path.read_text())["fid"] == 11.0


def test_unreadable_fid_json_is_kept_not_overwritten(tmp_path):
    path = write(tmp_path / "fid.json", '{"fid": 9.')
    note = write_result(path, _fid_record())
    kept = [json.loads(line) for line in (tmp_path / HISTORY).read_text().splitlines()]
    assert (
        kept[0]["protocol_id"] == "unreadable" and kept[0]["record"]["unreadable"] == '{"fid": 9.'
    )
    assert "(protocol unreadable) is kept" in note


# -------------------------------------------------------------------------------- 6. images


def _folder(tmp_path: Path, sizes, dtype=np.uint8, value=None) -> Path:
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        top = np.iinfo(dtype).max
        arr = (
            rng.integers(0, top, (h, w)).astype(dtype)
            if value is None
            else np.full((h, w), value, dtype)
        )
        Image.fromarray(arr).save(folder / f"img{i:03d}.png")
    return folder


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    from ssgan.data import load_images

    folder = _folder(tmp_path, [(64, 64)] * 3, np.uint16)
    cfg = C.resolve("image_folder", "ssgan", 0, overrides={"data": {"path": str(folder)}})
    x = load_images(cfg).float()
    assert 110 < x.mean() < 145 and (x == 255).float().mean() < 0.01  # clipped: ~99% white
    flat = _folder(tmp_path / "flat", [(64, 64)], np.uint16, value=32896)  # 128 * 257
    cfg = C.resolve("image_folder", "ssgan", 0, overrides={"data": {"path": str(flat)}})
    assert load_images(cfg).unique().tolist() == [128]


@pytest.mark.parametrize("policy", ["upscale", "skip"])
def test_small_images_follow_the_policy_and_are_counted(tmp_path, capsys, policy):
    folder = _folder(tmp_path, [(1, 1), (4000, 2)] + [(64, 64)] * 3)
    out = tmp_path / "data.json"
    code, err = cli(
        capsys, "prepare-data", "--dataset", "image_folder", "--out", out,
        f"data.path={folder}", f"data.small_images={policy}",
    )  # fmt: skip
    assert code == 0, err
    (split,) = json.loads(out.read_text())["splits"]
    assert split["small_images"]["upscaled" if policy == "upscale" else "skipped"] == 2
    assert split["n_images"] == (5 if policy == "upscale" else 3)
    assert "smaller than 64px" in err


@pytest.mark.parametrize("size", [(1, 1), (4000, 2)])
def test_small_image_is_an_error_naming_it(tmp_path, capsys, size):
    folder = _folder(tmp_path, [(64, 64), size])
    code, err = cli(
        capsys, "train", "--dataset", "image_folder", "--method", "ssgan", "--seed", "0",
        "--out", tmp_path / "run", *TINY, f"data.path={folder}", "data.small_images=error",
    )  # fmt: skip
    assert code == 2 and f"image {folder / 'img001.png'} is {size[0]}x{size[1]}" in err, err
    assert not (tmp_path / "run").exists()


def test_decompression_bomb_is_named(tmp_path, capsys, monkeypatch):
    from PIL import Image

    folder = _folder(tmp_path, [(64, 64), (300, 300)])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # 300x300 > 2 x the limit: a bomb
    code, err = cli(
        capsys, "prepare-data", "--dataset", "image_folder", f"data.path={folder}",
        "data.small_images=skip",
    )  # fmt: skip
    assert code == 2 and f"cannot read image {folder / 'img001.png'}: decompression bomb" in err


# ------------------------------------------------------------------------- 7. a newcomer


def test_help_lists_datasets_methods_and_override_sections(capsys):
    for argv in (["--help"], ["train", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "datasets: celeba_hq, cifar10, fashion_mnist, image_folder" in text
        assert (
            "methods: sn_gan, sr_gan, ssgan, stu_gan, stu_sngan, wgan_gp" in text
            and "train.*, log.*, probe.*, fid.*" in text
        )


def test_broken_tensorboard_is_one_line_before_the_run_starts(tmp_path, capsys, monkeypatch):
    """An installed but broken tensorboard (it imports with an error): the start-up check
    imports what the writer imports, so the run stops at once and leaves no folder."""
    import sys

    fake = tmp_path / "site" / "tensorboard"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('compiled against another protobuf')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in [m for m in sys.modules if m.startswith(("tensorboard", "torch.utils.tensorb"))]:
        monkeypatch.delitem(sys.modules, name)
    out = tmp_path / "run"
    code, err = cli(capsys, "train", *RUN, "--out", out, *TINY, "log.tensorboard=true")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "torch.utils.tensorboard cannot be imported: ImportError: compiled against" in err
    assert not out.exists()


def test_a_run_that_fails_at_start_is_never_left_running(tmp_path, capsys, monkeypatch):
    """A failure after the folder is made (here: the curves writer) is recorded as failed."""
    from ssgan.training import curves

    def broken(*args, **kwargs):
        raise OSError("disk quota exceeded")

    monkeypatch.setattr(curves, "require", lambda: None)
    monkeypatch.setattr(curves, "Curves", broken)
    out = tmp_path / "run"
    with pytest.raises(OSError, match="disk quota"):
        main(["train", *RUN, "--out", str(out), *TINY, "log.tensorboard=true"])
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and record["iteration"] == 0
    assert (
        record["events"][-1]["kind"] == "failed" and "disk quota" in record["events"][-1]["detail"]
    )


def test_version_names_the_package_version_and_the_commit(capsys, monkeypatch):
    import subprocess

    import ssgan
    from ssgan import provenance

    head = subprocess.run(
        ["git", "-C", str(Path(ssgan.__file__).parent), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    out = capsys.readouterr().out.strip()
    assert exit_.value.code == 0 and len(head) == 40
    assert out.startswith(f"ssgan {ssgan.__version__} (commit {head}") and out.endswith(")")
    monkeypatch.setattr(provenance, "git_commit", lambda: {"commit": None, "dirty": None})
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "commit unknown" in capsys.readouterr().out


def test_progress_line_per_log_interval_when_stderr_is_not_a_tty(tmp_path, capsys):
    code, err = cli(capsys, "train", *RUN, "--out", tmp_path / "run", *TINY, "train.log_every=4")
    lines = [line for line in err.splitlines() if line.startswith("mnist/ssgan/seed0: iteration")]
    assert code == 0 and [line.split()[2] for line in lines] == ["4/12", "8/12", "12/12"]
    assert "critic_loss" in lines[0] and "it/s" in lines[0]
    etas = [line.split("ETA ")[1] for line in lines]  # hours:minutes:seconds left at this rate
    assert all(re.fullmatch(r"\d+:\d\d:\d\d", e) for e in etas) and etas[-1] == "0:00:00"


# ----------------------------------------------------------- the workflow's check (snakemake -n)

QUICK_SUITE = C.load_yaml("config/quick.yaml")
SUITE_ERRORS = {  # comparisons: -> the message of the config check and of ssgan aggregate
    "unknown label": (
        [{"baseline": "wgan_gp", "treatment": "ssgan_tanh"}],
        "comparison 'ssgan_tanh vs wgan_gp': treatment 'ssgan_tanh' is not in the config's "
        "'methods'; it has: wgan_gp, ssgan, ssgan_balanced_after_bn, stu_gan, sn_gan, sr_gan",
    ),
    "same method": (
        [{"baseline": "ssgan", "treatment": "ssgan"}],
        "comparison 'ssgan vs ssgan': baseline and treatment are the same method",
    ),
    "unknown claim": (
        [{"baseline": "wgan_gp", "treatment": "ssgan", "claims": ["C0", "C9"]}],
        "comparison 'ssgan vs wgan_gp': unknown claim(s) C9; known: ",
    ),
    "not a mapping": (["wgan_gp"], "config key 'comparisons[0]' must be a mapping with"),
}


@pytest.mark.parametrize("case", list(SUITE_ERRORS))
def test_suite_comparisons_are_refused_before_any_job(case):
    from ssgan.analysis.claims import CLAIMS

    comps, message = SUITE_ERRORS[case]
    with pytest.raises(C.ConfigError, match="^" + re.escape(message)):
        C.check_comparisons({**QUICK_SUITE, "comparisons": comps}, CLAIMS)


def test_comparison_of_variants_without_a_shared_cell_is_refused():
    """ssgan_balanced_after_bn runs on mnist seed 0 only; a variant on seed 1 only never pairs
    with it."""
    suite = yaml.safe_load(yaml.safe_dump(QUICK_SUITE))
    suite["methods"]["sn_gan"]["seeds"] = [1]
    suite["comparisons"] = [{"baseline": "sn_gan", "treatment": "ssgan_balanced_after_bn"}]
    with pytest.raises(C.ConfigError, match="share no \\(dataset, seed\\) of the grid"):
        C.check_comparisons(suite)
    C.check_comparisons(QUICK_SUITE)  # the quick start's own comparisons pass


@pytest.mark.parametrize(
    "defaults,needle",
    [
        ({"train": {"beta1": 2.0}}, "'train.beta1' must be a number in [0, 1) (Adam)"),
        ({"method": "ssgan"}, "'method' is 'ssgan' in defaults, but this run is method 'wgan_gp'"),
        (None, "duplicate key 'train'"),
        (
            {"comparisons": [{"baseline": "wgan_gp", "treatment": "ssgan_x"}]},
            "comparison 'ssgan_x vs wgan_gp': treatment 'ssgan_x' is not in the config's "
            "'methods'; it has: wgan_gp, ssgan",
        ),
    ],
)
def test_workflow_check_stops_the_plan_and_writes_nothing(tmp_path, defaults, needle):
    path = tiny_suite(tmp_path)
    if defaults and "comparisons" in defaults:  # a suite-level key, not a run default
        data = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump({**data, **defaults}))
    elif defaults is None:  # a second train: block in defaults, added by hand
        path.write_text(path.read_text().replace("defaults:\n", "defaults:\n  train: {lr: 1}\n"))
    else:
        data = yaml.safe_load(path.read_text())
        data["defaults"].update(defaults)
        path.write_text(yaml.safe_dump(data))
    proc = snakemake("-n", "--configfile", str(path))
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and needle in text, text[-2000:]
    assert "Traceback" not in text and not (tmp_path / "results").exists()


def test_workflow_names_an_unknown_top_level_key_in_one_line(tmp_path):
    """Before the schema's page-long report: the key and a did-you-mean, in one line."""
    path = tiny_suite(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["seed"] = data.pop("seeds")
    path.write_text(yaml.safe_dump(data))
    proc = snakemake("-n", "--configfile", str(path))
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in text
    assert "invalid config: unknown config key 'seed' (did you mean 'seeds'?)" in text
    assert "additionalProperties" not in text and "$schema" not in text
    assert not (tmp_path / "results").exists()


def test_workflow_names_a_stale_fid_and_a_dry_run_keeps_it(tmp_path):
    """A completed run whose fid.json was skipped while it ran: the plan redoes its fid job
    (after a fresh marker, rule stale_fid), and a dry run writes nothing."""
    path = tiny_suite(tmp_path)
    run = tmp_path / "results" / "runs" / "mnist" / "ssgan" / "seed0"
    write(run / "run.json", json.dumps({"status": "completed", "iteration": 20}))
    write(run / "fid.json", json.dumps({"status": "skipped", "run_status": "running"}))
    proc = snakemake("-n", "--configfile", str(path))
    text = proc.stdout + proc.stderr
    assert f"{run}/fid.json is stale (written while the run was running): fid job redone" in text
    assert proc.returncode == 0, text[-2000:]
    assert re.search(r"^stale_fid\s+1$", text, re.M) and re.search(r"^fid\s+2$", text, re.M)
    assert (run / "fid.json").is_file() and not (tmp_path / "results" / "logs").exists()


def test_workflow_redoes_a_stale_fid_newer_than_its_run(tmp_path):
    """Every other file up to date and the stale record newer than its run (a copied or
    restored folder): the plan still redoes its fid job, and the tables and figures after it,
    nothing else (before, 'Nothing to be done' while it promised 'fid job redone')."""
    import os
    import time

    from ssgan.analysis.aggregate import TABLES
    from ssgan.analysis.plots import FIGURES, FORMATS

    path = tiny_suite(tmp_path, methods=("wgan_gp",))
    results, now = tmp_path / "results", time.time()
    run = results / "runs" / "mnist" / "wgan_gp" / "seed0"
    files = [
        (results / "data" / "mnist.json", "{}"),
        (results / "real_stats" / "mnist.json", "{}"),
        (run / "run.json", json.dumps({"status": "completed", "iteration": 20})),
        (run / "fid.json", json.dumps({"status": "skipped", "run_status": "running"})),
        *[(results / "tables" / name, "x") for name in TABLES],
        *[(tmp_path / "figures" / f"{n}.{f}", "x") for n in FIGURES for f in FORMATS],
    ]
    for i, (file, text) in enumerate(files):  # each file newer than the ones it is made from
        write(file, text)
        os.utime(file, (now - 100 + min(i, 4), now - 100 + min(i, 4)))
    proc = snakemake("-n", "--configfile", str(path))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-2000:]
    assert "Nothing to be done" not in text, text[-2000:]
    assert job_counts(proc.stdout) == {
        "stale_fid": 1,
        "fid": 1,
        "aggregate": 1,
        "plot": 1,
        "all": 1,
        "total": 5,
    }
    assert not (results / "logs").exists()  # a dry run writes nothing (no marker)


def test_workflow_dry_run_accepts_yaml11_numbers_and_writes_nothing(tmp_path):
    path = tiny_suite(tmp_path)
    path.write_text(path.read_text().replace("  train:\n", "  train:\n    lr: 2e-4\n", 1))
    proc = snakemake("-n", "--configfile", str(path))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    assert not (tmp_path / "results").exists()


# ------------------------------------------------ 2. config edits end to end (slow, one run)


@pytest.mark.slow
def test_config_edit_reruns_exactly_the_changed_runs_and_keeps_the_old_one(tmp_path):
    path = tiny_suite(tmp_path)
    results = tmp_path / "results"
    runs = {m: results / "runs" / "mnist" / m / "seed0" for m in ("wgan_gp", "ssgan")}
    targets = [str(r / "run.json") for r in runs.values()]

    def smk(*args):
        proc = snakemake(*targets, "--cores", "1", *args, "--configfile", str(path))
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        return proc.stdout + proc.stderr

    smk()
    old = {m: json.loads((r / "run.json").read_text()) for m, r in runs.items()}
    stamp = {m: (r / "generator.pt").stat().st_mtime_ns for m, r in runs.items()}

    def edit(section, **values):
        data = yaml.safe_load(path.read_text())
        data["defaults"].setdefault(section, {}).update(values)
        path.write_text(yaml.safe_dump(data))

    # an I/O-cadence edit: nothing to do, and the dry run writes nothing under results
    edit("train", log_every=5)
    suite_text = (results / "suite_config.yaml").read_text()
    assert "Nothing to be done" in smk("-n")
    assert (results / "suite_config.yaml").read_text() == suite_text
    # a SASTM edit: only the ssgan run reruns; the old one moves aside with its hash
    edit("sastm", gate="sigmoid")
    plan = smk("-n")
    jobs = [line.strip() for line in plan.splitlines() if line.strip().startswith("wildcards:")]
    assert jobs == ["wildcards: dataset=mnist, method=ssgan, seed=0"], plan[-3000:]
    assert (results / "suite_config.yaml").read_text() == suite_text
    smk()
    moved = results / "superseded" / "mnist" / "ssgan" / f"seed0-{old['ssgan']['config_hash'][:12]}"
    assert json.loads((moved / "run.json").read_text()) == old["ssgan"]
    new = json.loads((runs["ssgan"] / "run.json").read_text())
    assert new["config"]["sastm"]["gate"] == "sigmoid" and new["status"] == "completed"
    assert (runs["wgan_gp"] / "generator.pt").stat().st_mtime_ns == stamp["wgan_gp"]
    # --forcerun never leaves a run without its record
    smk("--forcerun", "train")
    for run in runs.values():
        assert json.loads((run / "run.json").read_text())["status"] == "completed"
