"""Optimizers: how a batch's gradient moves the parameters. By name or as objects with their
hyper-parameters: ``optimizer="adam"`` or ``optimizer=Adam(beta1=0.8)``.

With g = (1/m) sum of the batch's gradients (+ the regularisation's gradient for the weights,
see below), eta the learning rate and t = 1, 2, ... the step count:

- ``sgd`` (default): w <- w - eta g. With L2 this is exactly the book's
  w <- (1 - eta*lmbda/n) w - (eta/m) sum grad (computed fused into one GEMM).
- ``momentum``: v <- mu v - eta g; w <- w + v.
- ``nesterov``: v' <- mu v - eta g; w <- w - mu v + (1 + mu) v' (Nesterov's accelerated gradient in
  the form that needs the gradient at w only).
- ``adagrad``: c <- c + g^2; w <- w - eta g / (sqrt(c) + eps) (the seeds' "best adaptive rate").
- ``rmsprop``: c <- rho c + (1 - rho) g^2; w <- w - eta g / (sqrt(c) + eps).
- ``adam``: m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
  w <- w - eta (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

Weight decay composes with every optimizer the same way: the regularisation term's gradient joins g
for the weights (L2: + (lmbda/n) w; L1: + (lmbda/n) sign(w)); biases are never decayed. For SGD this
is the book's rule; for the adaptive ones it is the "coupled" (L2-in-the-gradient) form.
The state (v, c, m) has the layout of the parameters, lives in the network, and carries over from
one `fit` to the next while the optimizer stays the same (a different optimizer starts afresh).
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Optimizer:
    """Base: `n_states` arrays of state, `hyper` = the (h0, h1, h2) the compiled step receives."""

    name = "sgd"
    n_states = 0

    @property
    def hyper(self):
        return (0.0, 0.0, 0.0)

    def update(self, w, g, s1, s2, eta, t):
        """The reference step on one parameter array w (in place), its state s1, s2, the mean
        gradient g (regularisation included) and the step number t."""
        w[...] = w - eta * g


@dataclass(frozen=True)
class SGD(Optimizer):
    name = "sgd"


@dataclass(frozen=True)
class Momentum(Optimizer):
    mu: float = 0.9
    name = "momentum"
    n_states = 1

    @property
    def hyper(self):
        return (self.mu, 0.0, 0.0)

    def update(self, w, g, s1, s2, eta, t):
        s1[...] = self.mu * s1 - eta * g
        w[...] = w + s1


@dataclass(frozen=True)
class Nesterov(Momentum):
    """Momentum's velocity and hyper-parameter, with the look-ahead step."""

    name = "nesterov"

    def update(self, w, g, s1, s2, eta, t):
        previous = s1.copy()
        s1[...] = self.mu * previous - eta * g
        w[...] = w - self.mu * previous + (1 + self.mu) * s1


@dataclass(frozen=True)
class AdaGrad(Optimizer):
    eps: float = 1e-8
    name = "adagrad"
    n_states = 1

    @property
    def hyper(self):
        return (0.0, 0.0, self.eps)

    def update(self, w, g, s1, s2, eta, t):
        s1[...] = s1 + g * g
        w[...] = w - eta * g / (np.sqrt(s1) + self.eps)


@dataclass(frozen=True)
class RMSProp(Optimizer):
    rho: float = 0.9
    eps: float = 1e-8
    name = "rmsprop"
    n_states = 1

    @property
    def hyper(self):
        return (self.rho, 0.0, self.eps)

    def update(self, w, g, s1, s2, eta, t):
        s1[...] = self.rho * s1 + (1 - self.rho) * g * g
        w[...] = w - eta * g / (np.sqrt(s1) + self.eps)


@dataclass(frozen=True)
class Adam(Optimizer):
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name = "adam"
    n_states = 2

    @property
    def hyper(self):
        return (self.beta1, self.beta2, self.eps)

    def update(self, w, g, s1, s2, eta, t):
        s1[...] = self.beta1 * s1 + (1 - self.beta1) * g
        s2[...] = self.beta2 * s2 + (1 - self.beta2) * g * g
        c1, c2 = 1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t
        w[...] = w - eta * (s1 / c1) / (np.sqrt(s2 / c2) + self.eps)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSProp, Adam)}

_RANGES = {"mu": (0.0, 1.0, "[0, 1)"), "rho": (0.0, 1.0, "[0, 1)"), "beta1": (0.0, 1.0, "[0, 1)"),
           "beta2": (0.0, 1.0, "[0, 1)")}


def get_optimizer(optimizer):
    """The optimizer `optimizer` names (with default hyper-parameters), or the object itself,
    after checking its hyper-parameters."""
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
        optimizer = OPTIMIZERS[optimizer]()
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a name or an nnfast.optimizers.Optimizer, got {optimizer!r}")
    for field_name, value in vars(optimizer).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ValueError(f"{optimizer.name}: {field_name} must be a finite number, got {value!r}")
        low, high, text = _RANGES.get(field_name, (0.0, np.inf, "> 0"))
        if field_name == "eps" and not value > 0:
            raise ValueError(f"{optimizer.name}: eps must be > 0, got {value}")
        if field_name in _RANGES and not low <= value < high:
            raise ValueError(f"{optimizer.name}: {field_name} must be in {text}, got {value}")
    return optimizer
