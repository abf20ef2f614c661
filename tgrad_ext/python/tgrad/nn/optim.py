"""tinygrad.nn.optim: SGD (momentum, weight decay, nesterov), LARS, Adam, AdamW and LAMB with tinygrad's update
rules and signatures; Muon exists and raises (it needs newton_schulz). A step needs Context(TRAINING=1), as in
tinygrad; it updates the parameters with `assign` and realizes them together, so one schedule runs the whole step
(the parameters' gradient kernels are shared where they can be)."""

from __future__ import annotations

from tgrad.dtype import dtypes
from tgrad.errors import InvalidArgumentError, UnsupportedError
from tgrad.helpers import TRAINING, dedup, flatten
from tgrad.tensor import Tensor


class Optimizer:
    """Base class: the parameters (tensors with `is_param`), the buffers (the others), the learning rate."""

    def __init__(self, params: list[Tensor], lr: float, device: str | None = None, fused: bool = False):
        if lr < 0:
            raise InvalidArgumentError(f"Invalid learning rate: {lr}")
        self.params: list[Tensor] = dedup([x for x in params if x.is_param])
        if not self.params:
            raise InvalidArgumentError("optimizer must have at least one param")
        self.buffers: list[Tensor] = dedup([x for x in params if not x.is_param])
        self.device = device or self.params[0].device
        self.lr = Tensor([lr], dtype=dtypes.float32)

    def _new_optim_param(self) -> list[Tensor]:
        return [Tensor.zeros(*t.shape, dtype=dtypes.float32).contiguous() for t in self.params]

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        Tensor.realize(*self.schedule_step())

    def schedule_step(self) -> list[Tensor]:
        """The tensors to realize for one step (the updated parameters and the optimizer's state)."""
        if not TRAINING:
            raise RuntimeError(
                f"TRAINING={TRAINING.value}, TRAINING must be enabled to use the optimizer. "
                "Consider using Context(TRAINING=1) before calling Optimizer.step()."
            )
        missing = [i for i, t in enumerate(self.params) if t.grad is None]
        if missing:
            raise InvalidArgumentError(f"parameters {missing} have no gradient: call backward() first")
        updates, extra = self._step(self.params, [t.grad for t in self.params])  # type: ignore[misc]
        for t, up in zip(self.params, updates, strict=True):
            t.assign(t.detach() - up)
        return extra + self.params + self.buffers

    def _step(self, params: list[Tensor], grads: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        raise NotImplementedError


class OptimizerGroup(Optimizer):
    """Several optimizers stepped together."""

    def __init__(self, *optimizers: Optimizer):
        self.optimizers = optimizers
        self.params = flatten([o.params for o in optimizers])
        self.buffers = flatten([o.buffers for o in optimizers])

    def __getitem__(self, i: int) -> Optimizer:
        return self.optimizers[i]

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad()

    def schedule_step(self) -> list[Tensor]:
        return [x for o in self.optimizers for x in o.schedule_step()]


def SGD(
    params: list[Tensor],
    lr: float = 0.001,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    classic: bool = False,
    device: str | None = None,
    fused: bool = False,
) -> LARS:
    """SGD with optional momentum, nesterov momentum and weight decay (LARS without its trust ratio)."""
    return LARS(params, lr, momentum, weight_decay, nesterov=nesterov, classic=classic, tcoef=0.0, device=device)


def Muon(params: list[Tensor], *args: object, **kwargs: object) -> LARS:
    """Not in tgrad: Muon orthogonalises the update with Newton-Schulz iterations (Tensor.newton_schulz)."""
    raise UnsupportedError("Muon needs Tensor.newton_schulz (matrix decompositions), which tgrad does not implement")


class LARS(Optimizer):
    """Layer-wise adaptive rate scaling (https://arxiv.org/abs/1708.03888v3); tcoef=0 is plain SGD."""

    def __init__(
        self,
        params: list[Tensor],
        lr: float = 0.001,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        ns_steps: int = 0,
        ns_coefficients: tuple[float, ...] | None = None,
        nesterov: bool = False,
        classic: bool = True,
        pre_wd: bool = True,
        tcoef: float = 0.001,
        device: str | None = None,
        fused: bool = False,
    ):
        if momentum < 0:
            raise InvalidArgumentError(f"Invalid momentum value: {momentum}")
        if ns_coefficients:
            raise UnsupportedError("LARS with ns_coefficients (Muon) needs Tensor.newton_schulz, which tgrad lacks")
        super().__init__(params, lr, device)
        self.momentum, self.wd, self.nesterov, self.classic, self.pre_wd, self.tcoef = (
            momentum,
            weight_decay,
            nesterov,
            classic,
            pre_wd,
            tcoef,
        )
        self.b = self._new_optim_param() if self.momentum else []

    def _step(self, params: list[Tensor], grads: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        ret = []
        for i, (t, g) in enumerate(zip(params, grads, strict=True)):
            if self.tcoef != 0:
                r1 = t.detach().square().sum().sqrt()
                r2 = g.square().sum().sqrt()
                r: Tensor | float = (r1 > 0).where((r2 > 0).where(self.tcoef * r1 / (r2 + self.wd * r1), 1.0), 1.0)
            else:
                r = 1.0
            if self.pre_wd and self.wd > 0:
                g = g + self.wd * t.detach()
            if self.classic:
                g = g * r * self.lr
            if self.momentum:
                self.b[i].assign(self.momentum * self.b[i] + g)
                g = (g + self.momentum * self.b[i]) if self.nesterov else self.b[i]
            if not self.classic:
                g = g * r * self.lr
            if not self.pre_wd and self.wd > 0:  # weight decay after momentum
                g = g + self.wd * self.lr * t.detach()
            ret.append(g.cast(t.dtype))
        return ret, self.b


def AdamW(
    params: list[Tensor],
    lr: float = 0.001,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    device: str | None = None,
    fused: bool = False,
) -> LAMB:
    """AdamW (https://arxiv.org/abs/1711.05101v3): Adam with decoupled weight decay."""
    return LAMB(params, lr, b1, b2, eps, weight_decay, adam=True, device=device)


def Adam(
    params: list[Tensor],
    lr: float = 0.001,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    device: str | None = None,
    fused: bool = False,
) -> LAMB:
    """Adam (https://arxiv.org/abs/1412.6980)."""
    return LAMB(params, lr, b1, b2, eps, 0.0, adam=True, device=device)


class LAMB(Optimizer):
    """LAMB (https://arxiv.org/abs/1904.00962); with adam=True, Adam/AdamW (trust ratio 1)."""

    def __init__(
        self,
        params: list[Tensor],
        lr: float = 0.001,
        b1: float = 0.9,
        b2: float = 0.999,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        adam: bool = False,
        device: str | None = None,
        fused: bool = False,
    ):
        if weight_decay < 0:
            raise InvalidArgumentError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, lr, device)
        self.b1, self.b2, self.eps, self.wd, self.adam = b1, b2, eps, weight_decay, adam
        self.b1_t = Tensor.ones(1, dtype=dtypes.float32).contiguous().is_param_(False)
        self.b2_t = Tensor.ones(1, dtype=dtypes.float32).contiguous().is_param_(False)
        self.m = self._new_optim_param()
        self.v = self._new_optim_param()

    def _step(self, params: list[Tensor], grads: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        ret = []
        self.b1_t.assign(self.b1_t * self.b1)
        self.b2_t.assign(self.b2_t * self.b2)
        for i, (t, g) in enumerate(zip(params, grads, strict=True)):
            self.m[i].assign((self.b1 * self.m[i] + (1.0 - self.b1) * g).cast(self.m[i].dtype))
            self.v[i].assign((self.b2 * self.v[i] + (1.0 - self.b2) * (g * g)).cast(self.v[i].dtype))
            m_hat = self.m[i] / (1.0 - self.b1_t)
            v_hat = self.v[i] / (1.0 - self.b2_t)
            up = (m_hat / (v_hat.sqrt() + self.eps)) + self.wd * t.detach()
            if not self.adam:
                r1 = t.detach().square().sum().sqrt()
                r2 = up.square().sum().sqrt()
                r: Tensor | float = (r1 > 0).where((r2 > 0).where(r1 / r2, 1.0), 1.0)
            else:
                r = 1.0
            ret.append((self.lr * r * up).cast(t.dtype))
        return ret, [self.b1_t, self.b2_t, *self.m, *self.v]
