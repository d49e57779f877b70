"""Reference timing for bench/sim.ts: the same RK4 gradient-flow steps of an L = 2 network (THEORY.md
section 1, centered output, gamma0 = 1), written naively with numpy (BLAS): dense velocity k_s for every
parameter at every stage, training points only inside the steps, all points at the start and the end.
Usage: python3 bench/sim_numpy.py CONFIG.json  (X, y, Xtest, N, dt, steps) -> {"seconds": ...} on stdout.
"""
import json
import sys
import time

import numpy as np


def main(path):
    c = json.load(open(path))
    X, y, Xt = np.array(c["X"]), np.array(c["y"]), np.array(c["Xtest"])
    N, dt, steps = c["N"], c["dt"], c["steps"]
    P, D = X.shape
    g0 = 1.0
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    theta = [rng.standard_normal((N, D)), rng.standard_normal((N, N)), rng.standard_normal(N)]
    Xall = np.vstack([X, Xt])

    def forward(th, Xin):
        W0, W1, w = th
        h1 = Xin @ W0.T / np.sqrt(D)
        p1 = np.tanh(h1)
        h2 = p1 @ W1.T / np.sqrt(N)
        p2 = np.tanh(h2)
        return h1, p1, h2, p2, p2 @ w / (g0 * N)

    f0 = forward(theta, Xall)[4]

    def velocity(th):
        W0, W1, w = th
        h1, p1, h2, p2, f = forward(th, X)
        delta = y - (f - f0[:P])
        g2 = (1 - p2**2) * w
        g1 = (1 - p1**2) * (g2 @ W1) / np.sqrt(N)
        dW0 = g0 / (P * np.sqrt(D)) * (g1 * delta[:, None]).T @ X
        dW1 = g0 / (P * np.sqrt(N)) * (g2 * delta[:, None]).T @ p1
        dw = g0 / P * p2.T @ delta
        return [dW0, dW1, dw]

    def axpy(th, a, k):
        return [t + a * kk for t, kk in zip(th, k)]

    for _ in range(steps):
        k1 = velocity(theta)
        k2 = velocity(axpy(theta, dt / 2, k1))
        k3 = velocity(axpy(theta, dt / 2, k2))
        k4 = velocity(axpy(theta, dt, k3))
        theta = [t + dt / 6 * (a + 2 * b + 2 * c_ + d) for t, a, b, c_, d in zip(theta, k1, k2, k3, k4)]
    f = forward(theta, Xall)[4] - f0
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "trainLoss": float(np.mean((y - f[:P]) ** 2) / 2)}))


if __name__ == "__main__":
    main(sys.argv[1])
