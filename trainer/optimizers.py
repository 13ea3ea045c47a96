"""Optimisers: update parameters in place from their gradients.

Each optimiser keeps its own state (velocities, moment estimates) with one array per parameter,
allocated once, and updates parameters with in-place NumPy operations: no new arrays per step
beyond one scratch buffer.
"""

from __future__ import annotations

import numpy as np


class SGD:
    """Stochastic gradient descent with (optional, Nesterov-free) momentum:
    v <- momentum * v - lr * grad;  p <- p + v."""

    def __init__(self, params: list[np.ndarray], learning_rate: float, momentum: float = 0.0):
        self.params = params
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.velocities = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        for p, g, v in zip(self.params, grads, self.velocities):
            v *= self.momentum
            v -= self.learning_rate * g
            p += v


class Adam:
    """Adam (Kingma & Ba, 2015): per-parameter step sizes from running estimates of the
    gradient's mean and uncentred variance, with bias correction for the first steps."""

    def __init__(self, params: list[np.ndarray], learning_rate: float = 1e-3,
                 beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8):
        self.params = params
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.means = [np.zeros_like(p) for p in params]
        self.variances = [np.zeros_like(p) for p in params]
        self.scratch = [np.empty_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        # Bias correction folded into the step size, as in the paper's section 2.
        step_size = (self.learning_rate * np.sqrt(1 - self.beta2 ** self.t)
                     / (1 - self.beta1 ** self.t))
        for p, g, m, v, s in zip(self.params, grads, self.means, self.variances, self.scratch):
            # m += (1 - beta1) (g - m) and v += (1 - beta2) (g^2 - v): the running averages,
            # written so that no temporary array is allocated.
            np.subtract(g, m, out=s)
            s *= 1 - self.beta1
            m += s
            np.multiply(g, g, out=s)
            s -= v
            s *= 1 - self.beta2
            v += s
            np.sqrt(v, out=s)
            s += self.epsilon
            np.divide(m, s, out=s)
            s *= step_size
            p -= s


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
