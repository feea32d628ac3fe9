"""One generator iteration as training runs it: eagerly, or replayed as one CUDA graph.

``Step`` runs the method's ``train_iteration`` (its ``n_critic`` critic steps, its generator
step and the graph-safe parts of its hooks) on batches read from static buffers
(``StepInputs``): before each iteration the host fills them from the run's ``BatchStream``
(indices into the images held on the device, or the uint8 batches of a streamed dataset), in
the order the stream would have given them, so the batch order, and its state in checkpoints,
is the same with and without graphs.

On CUDA with ``train.cuda_graph`` on, the first iterations run eagerly on a side stream, then
one whole iteration is captured (``torch.cuda.graph``; the run's noise generator is registered
with it, Adam is ``capturable``) and replayed. Iterations a method marks with
``eager_iteration`` (STU-GAN's prune/regrow, SR-GAN's SVD compensation: work that is not a fixed
sequence of kernels) run eagerly, the same function on the same tensors, in place. What changes
with the iteration in the others (the learning rate of ``train.lr_decay``, the weight of G's
moving average) is written into device tensors by ``Method.before_iteration`` before each
iteration, outside the graph, so every replay reads this iteration's values; probes,
samples and checkpoints run between replays. Anything that replaces the storage of a tensor
the graph reads or writes (a parameter, a buffer, an optimizer state) is detected by
``storage_fingerprint`` and triggers a new capture. On the CPU every line here runs except the
capture and replay calls, which is what the CPU tests exercise.

Precision (``train.precision``): ``fp32`` runs matmuls and convolutions in IEEE fp32 (PyTorch
lets cuDNN use TF32 by default; not here); ``tf32`` allows TF32 tensor cores for both; ``bf16``
runs the iteration under bfloat16 autocast, with the losses and the gradient penalty's norm
computed in fp32 by the methods (``.float()`` on critic outputs and gradients).
"""

from __future__ import annotations

import contextlib
import sys

import torch

from ssgan.errors import ConfigError

PRECISIONS = ("fp32", "tf32", "bf16")
GRAPH_WARMUP = 3  # eager iterations on the capture stream before the first capture


def set_precision(precision: str) -> None:
    """Process-wide fp32 mode of CUDA matmuls and convolutions (no effect on the CPU)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"config key 'train.precision' must be one of {list(PRECISIONS)}")
    mode = "tf32" if precision == "tf32" else "ieee"
    torch.backends.cuda.matmul.fp32_precision = mode
    torch.backends.cudnn.conv.fp32_precision = mode


def autocast(precision: str, device: torch.device):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def use_graph(setting, device: torch.device) -> bool:
    """Whether ``train.cuda_graph`` (auto | true | false) means graphs on this device."""
    if setting == "auto":
        return device.type == "cuda"
    if setting is True and device.type != "cuda":
        raise ConfigError(
            f"config key 'train.cuda_graph' is true but the training device is {device.type}: "
            f"CUDA graphs need a CUDA device (use auto or false)"
        )
    return bool(setting)


def storage_fingerprint(*objects) -> tuple[int, ...]:
    """Data pointers of every parameter, gradient and buffer of the modules, of every tensor
    (and its gradient) of the dicts of tensors (a stacked network's parameters and buffers),
    and of every tensor state of the optimizers given: equal before and after an eager step
    that works in place."""
    ptrs = []
    for obj in objects:
        if isinstance(obj, torch.nn.Module):
            for p in obj.parameters():
                ptrs.append(p.data_ptr())
                ptrs.append(p.grad.data_ptr() if p.grad is not None else 0)
            ptrs += [b.data_ptr() for b in obj.buffers()]
        elif isinstance(obj, dict):
            for v in obj.values():
                ptrs.append(v.data_ptr())
                ptrs.append(v.grad.data_ptr() if v.grad is not None else 0)
        else:  # an optimizer
            for state in obj.state.values():
                ptrs += [v.data_ptr() for v in state.values() if isinstance(v, torch.Tensor)]
    return tuple(ptrs)


def make_capturable(opt: torch.optim.Optimizer, device: torch.device) -> None:
    """Adam with ``capturable=True``: its step counts live on the device (a checkpoint written
    without graphs loads into it, and the other way round), and so does its learning rate
    (``device_learning_rates``)."""
    for group in opt.param_groups:
        group["capturable"] = True
    for state in opt.state.values():
        if "step" in state:
            state["step"] = state["step"].to(device=device, dtype=torch.float32)
    device_learning_rates(opt, device)


def device_learning_rates(opt: torch.optim.Optimizer, device: torch.device) -> None:
    """Each group's lr as a 0-dim fp32 tensor on ``device``: a graph reads it at every replay,
    and ``Method.before_iteration`` writes this iteration's value into it (train.lr_decay)."""
    for group in opt.param_groups:
        lr = group["lr"]
        if not (isinstance(lr, torch.Tensor) and lr.device == device and lr.dim() == 0):
            group["lr"] = torch.tensor(float(lr), dtype=torch.float32, device=device)


def host_learning_rates(opt: torch.optim.Optimizer, lr: float) -> None:
    """A tensor lr (a checkpoint of a graphed run, resumed eagerly) back to a Python float; the
    value is the config's (``set_learning_rates`` replaces it with a decayed one)."""
    for group in opt.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"] = lr


class StepInputs:
    """The batches of one generator iteration in static device buffers, filled by the host
    before each iteration in the stream's order; ``next`` reads them inside the step."""

    def __init__(self, stream, count: int):
        self.stream, self.count, self.k = stream, count, 0
        device, batch = stream.device, stream.batch_size
        pin = device.type == "cuda"
        if stream.in_memory:  # indices into the images on the device: the gather is in the step
            self.idx = torch.zeros(count, batch, dtype=torch.long, device=device)
            self._host = [torch.zeros(count, batch, dtype=torch.long, pin_memory=pin) for _ in "ab"]
            self.raw = None
        else:  # streamed from a memory map: the stream's uint8 batches are copied in
            shape = tuple(stream.images[0].shape)
            self.raw = torch.zeros(count, batch, *shape, dtype=torch.uint8, device=device)
            self.idx = None
        self._slot, self._copied = 0, [None, None]

    def fill(self) -> None:
        """The next ``count`` batches of the stream into the buffers (advances the stream)."""
        self.k = 0
        if self.raw is not None:
            for k in range(self.count):
                self.raw[k].copy_(self.stream.next_uint8())
            return
        slot = self._slot = 1 - self._slot  # two pinned host buffers: one may still be copying
        if self._copied[slot] is not None:
            self._copied[slot].synchronize()
        host = self._host[slot]
        for k in range(self.count):
            host[k].copy_(self.stream.next_indices())
        self.idx.copy_(host, non_blocking=True)
        if self.idx.is_cuda:
            self._copied[slot] = torch.cuda.Event()
            self._copied[slot].record()

    def next(self) -> torch.Tensor:
        """Batch k of this iteration as float in [-1, 1] (what ``BatchStream.next`` returns)."""
        if self.k >= self.count:
            raise RuntimeError(
                f"the method drew more than the {self.count} batches per iteration it declares "
                f"(Method.batches_per_iteration)"
            )
        k, self.k = self.k, self.k + 1
        if self.raw is not None:
            raw = self.raw[k]
        else:
            raw = self.stream.images.index_select(0, self.idx[k])
        return raw.float().div_(127.5).sub_(1.0)


class GraphSchedule:
    """The CUDA-graph schedule of a training step: ``GRAPH_WARMUP`` eager iterations on the
    capture stream, one capture, replays; iterations marked eager run eagerly between replays;
    a changed storage fingerprint recaptures; a capture that fails falls back to eager for good.
    Subclasses say what one iteration is (``run_eagerly``), what is filled before it outside
    the graph (``prepare``), which tensors it must keep reading (``fingerprint``), and which
    noise generators it draws from (``generators``, registered with the graph): ``Step`` for
    one run, ``ssgan.training.stacked.StackedStep`` for a seed batch's stacked network."""

    def __init__(self, device, graph: bool):
        self.device, self.graph = torch.device(device), graph
        self.eager_done = 0  # eager iterations since the last (re)start: the graph's warm-up
        self._graph = None
        self._stream = None  # the capture's side stream (CUDA), made on first use
        self._outputs: dict[str, torch.Tensor] = {}
        self._fingerprint: tuple[int, ...] = ()
        self.captures = 0
        self.graph_error: str | None = None  # why graphs were given up, if they were

    # --- what one iteration is (subclasses) ----------------------------------------------
    def prepare(self, iteration: int) -> None:
        """Host-side work before iteration ``iteration``, outside any graph."""

    def eager_only(self, iteration: int) -> bool:
        """True where this iteration must run eagerly (not replayed)."""
        return False

    def run_eagerly(self, iteration: int) -> dict:
        raise NotImplementedError

    def rewind(self) -> None:
        """Back to the first of the filled batches (before a capture or a fallback)."""

    def fingerprint(self) -> tuple[int, ...]:
        raise NotImplementedError

    def generators(self) -> list[torch.Generator]:
        raise NotImplementedError

    # --- the schedule ----------------------------------------------------------------------
    def __call__(self, iteration: int) -> dict:
        self.prepare(iteration)
        if not self.graph or self.eager_only(iteration):
            return self._eager(iteration)
        if self.eager_done < GRAPH_WARMUP:
            return self._eager(iteration, side_stream=True)
        if self._graph is None or self._fingerprint != self.fingerprint():
            try:
                self._capture(iteration)
            except RuntimeError as err:  # an operation that cannot be captured: stay eager
                self.graph, self._graph = False, None
                self.graph_error = f"{type(err).__name__}: {err}".splitlines()[0][:300]
                print(
                    f"CUDA graph capture failed, training eagerly: {self.graph_error}",
                    file=sys.stderr,
                )
                self.rewind()
                return self._eager(iteration)
        self._graph.replay()
        return {k: v.clone() for k, v in self._outputs.items()}

    def _eager(self, iteration: int, side_stream: bool = False) -> dict:
        with self._warmup_stream() if side_stream else contextlib.nullcontext():
            stats = self.run_eagerly(iteration)
        self.eager_done += 1
        return stats

    @contextlib.contextmanager
    def _warmup_stream(self):
        """On CUDA, warm-up before a capture runs on the capture's side stream (as
        torch.cuda.graph requires); on the CPU (graph logic under test) it is a no-op."""
        if self.device.type != "cuda":
            yield
            return
        side, main = self._side_stream(), torch.cuda.current_stream(self.device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            yield
        main.wait_stream(side)

    def _side_stream(self):
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        return self._stream

    def _capture(self, iteration: int) -> None:
        """Records one iteration (CUDA only). The buffers hold this iteration's batches; the
        capture itself computes nothing, the replay that follows does."""
        self._graph = torch.cuda.CUDAGraph()
        for gen in self.generators():
            self._graph.register_generator_state(gen)
        torch.cuda.synchronize(self.device)
        with torch.cuda.graph(self._graph, stream=self._side_stream()):
            self.rewind()
            self._outputs = self.run_eagerly(iteration)
        self._fingerprint = self.fingerprint()
        self.captures += 1


class Step(GraphSchedule):
    """Runs generator iterations of one run: ``step(iteration)`` returns the method's detached
    scalars (fresh tensors each call: they are kept until the next log flush)."""

    def __init__(self, method, models, stream, gen, device, precision: str, graph: bool):
        super().__init__(device, graph)
        self.method, self.m, self.gen = method, models, gen
        self.precision = precision
        self.inputs = StepInputs(stream, method.batches_per_iteration())
        if graph and not method.graphable():
            self.graph = graph = False
            self.graph_error = f"method {method.name!r} under this config runs eagerly"
        if graph:
            for opt in (models.opt_G, models.opt_D):
                make_capturable(opt, self.device)

    def restored(self) -> None:
        """After a checkpoint was loaded into the models (in place) and optimizers."""
        self._graph = None  # optimizer states are new tensors: capture again
        for opt in (self.m.opt_G, self.m.opt_D):
            if self.graph:
                make_capturable(opt, self.device)
            else:
                host_learning_rates(opt, self.method.cfg["train"]["lr"])

    def prepare(self, iteration: int) -> None:
        self.inputs.fill()
        self.method.before_iteration(self.m, iteration)  # outside the graph: lr, EMA weight

    def eager_only(self, iteration: int) -> bool:
        return self.method.eager_iteration(iteration)

    def rewind(self) -> None:
        self.inputs.k = 0

    def generators(self) -> list[torch.Generator]:
        return [self.gen]

    def run_eagerly(self, iteration: int) -> dict:
        """The iteration over the filled buffers: the function a graph captures."""
        with autocast(self.precision, self.device):
            stats = self.method.train_iteration(self.m, self.inputs.next, self.gen, iteration)
        if self.inputs.k != self.inputs.count:
            raise RuntimeError(
                f"method {self.method.name!r} drew {self.inputs.k} batches in one iteration "
                f"but declares {self.inputs.count} (Method.batches_per_iteration)"
            )
        return stats

    def fingerprint(self) -> tuple[int, ...]:
        m = self.m
        return storage_fingerprint(m.G, m.D, m.opt_G, m.opt_D)
