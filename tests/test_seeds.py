"""Independent RNG streams per run seed; layers shared by the methods start equal."""

import torch

from ssgan.training import seeds
from ssgan.training.loop import Run
from tests.test_train import tiny_cfg


def test_streams_differ_from_each_other_and_across_seeds():
    all_seeds = [seeds.stream_seeds(s) for s in range(5)]
    for st in all_seeds:
        assert list(st) == list(seeds.STREAMS) and len(set(st.values())) == len(seeds.STREAMS)
        assert all(0 <= v < 2**32 for v in st.values())
    assert len({v for st in all_seeds for v in st.values()}) == 5 * len(seeds.STREAMS)
    assert seeds.stream_seeds(3) == seeds.stream_seeds(3)  # a pure function of the seed
    lay = seeds.layout(0)
    assert lay["streams"] == list(seeds.STREAMS) and lay["noise"] == all_seeds[0]["noise"]


def _built(method: str, seed: int = 0, **extra) -> Run:
    run = Run(tiny_cfg(method, seed, **extra), "unused")
    run.build()
    return run


def test_training_streams_are_independent():
    run = _built("ssgan")
    st = seeds.stream_seeds(0)
    # The training noise is not the stream that initialised the networks (it used to be: one
    # seed fed torch.manual_seed and the noise generator alike).
    noise = torch.rand(1000, generator=run.gen)
    for name in ("init", "data", "probe", "sample"):
        other = torch.rand(1000, generator=torch.Generator().manual_seed(st[name]))
        assert not torch.equal(noise, other), name
    assert not torch.equal(run.probe_z[:16], run.sample_z[:16])
    assert run.stream.seed == st["data"]
    # the critic's first convolution is drawn from its own per-layer seed, not from the run seed
    D0 = run.m.D.features[0].weight
    assert not torch.equal(D0, _built("ssgan", seed=1).m.D.features[0].weight)


def test_shared_layers_start_equal_across_methods():
    w, s = _built("wgan_gp"), _built("ssgan")
    d = _built("ssgan", **{"sastm.init": "default"})
    assert s.m.D.state_dict().keys() == w.m.D.state_dict().keys()
    assert all(torch.equal(v, s.m.D.state_dict()[k]) for k, v in w.m.D.state_dict().items())
    gw, gs = w.m.G.state_dict(), s.m.G.state_dict()
    shared = [
        k for k in gw if k in gs and gw[k].shape == gs[k].shape and k.split(".")[0] != "blocks"
    ]
    shared += [k for k in gw if k.startswith("blocks.") and k.split(".")[2] == "0"]  # deconvs
    assert {"fc.weight", "out.0.weight", "blocks.0.0.weight", "blocks.1.0.weight"} <= set(shared)
    assert all(torch.equal(gw[k], gs[k]) for k in shared)
    # with PyTorch's default SASTM init the shared layers are still equal (per-layer seeds)
    assert all(torch.equal(gw[k], d.m.G.state_dict()[k]) for k in shared)
    # With open gates (SASTM = identity at initialisation), the two generators are the same
    # function at the start: the pair differs only by what training does with the SASTMs. The
    # default gates (PyTorch's init) zero a share of the coefficients from the start: not the same.
    z = w.probe_z
    o = _built("ssgan", **{"sastm.init": "open", "sastm.position": "before_bn"})
    assert torch.equal(w.m.G(z), o.m.G(z))
    assert not torch.equal(w.m.G(z), s.m.G(z))
    # ... and the same data order and training noise
    assert torch.equal(w.stream.next(), s.stream.next())
    assert torch.equal(torch.rand(8, generator=w.gen), torch.rand(8, generator=s.gen))
    assert not torch.equal(w.m.G(z), d.m.G(z))
