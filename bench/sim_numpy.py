"""Reference timing for bench/sim.ts: the same RK4 gradient-flow steps of a depth-L network (THEORY.md
section 1, centered output), written naively with numpy (BLAS): dense velocity k_s for every parameter
at every stage, training points only inside the steps, all points at the recorded times.
Usage: python3 bench/sim_numpy.py CONFIG.json -> {"seconds", "trainLoss", ...} on stdout. CONFIG has
X, y, Xtest, N, dt, steps and optionally depth (default 2), activation (tanh or relu, default tanh),
gamma0 (default 1), seeds (default 1), ytest, and record (recorded times, default 2: start and end);
with ytest and record, also the mean over seeds of the train and test loss curves.
"""
import json
import sys
import time

import numpy as np

ACTIVATIONS = {
    # phi and phi' (relu: phi'(0) = 0, as src/theory/activations.ts)
    "tanh": (np.tanh, lambda h, p: 1 - p**2),
    "relu": (lambda h: np.maximum(h, 0), lambda h, p: (h > 0).astype(h.dtype)),
}


def run(c, seed):
    X, y, Xt = np.array(c["X"]), np.array(c["y"]), np.array(c["Xtest"])
    yt = np.array(c["ytest"]) if "ytest" in c else None
    N, dt, steps, L = c["N"], c["dt"], c["steps"], c.get("depth", 2)
    g0 = c.get("gamma0", 1.0)
    phi, dphi = ACTIVATIONS[c.get("activation", "tanh")]
    record = c.get("record", 2)
    every = steps // (record - 1)
    P, D = X.shape
    rng = np.random.default_rng(seed)
    # theta = [W^0, W^1 .. W^{L-1}, w]
    theta = [rng.standard_normal((N, D))] + [rng.standard_normal((N, N)) for _ in range(L - 1)] + [rng.standard_normal(N)]
    Xall = np.vstack([X, Xt])

    def forward(th, Xin):
        hs, ps = [Xin @ th[0].T / np.sqrt(D)], []
        for W in th[1:L]:
            ps.append(phi(hs[-1]))
            hs.append(ps[-1] @ W.T / np.sqrt(N))
        ps.append(phi(hs[-1]))
        return hs, ps, ps[-1] @ th[L] / (g0 * N)

    f0 = forward(theta, Xall)[2]

    def velocity(th):
        hs, ps, f = forward(th, X)
        delta = y - (f - f0[:P])
        g = dphi(hs[-1], ps[-1]) * th[L]
        v = [None] * (L + 1)
        v[L] = g0 / P * ps[-1].T @ delta
        for l in range(L - 1, 0, -1):
            v[l] = g0 / (P * np.sqrt(N)) * (g * delta[:, None]).T @ ps[l - 1]
            g = dphi(hs[l - 1], ps[l - 1]) * (g @ th[l]) / np.sqrt(N)
        v[0] = g0 / (P * np.sqrt(D)) * (g * delta[:, None]).T @ X
        return v

    def axpy(th, a, k):
        return [t + a * kk for t, kk in zip(th, k)]

    def losses(th):
        f = forward(th, Xall)[2] - f0
        return float(np.mean((y - f[:P]) ** 2) / 2), (float(np.mean((yt - f[P:]) ** 2) / 2) if yt is not None else None)

    curves = [losses(theta)]
    for k in range(steps):
        k1 = velocity(theta)
        k2 = velocity(axpy(theta, dt / 2, k1))
        k3 = velocity(axpy(theta, dt / 2, k2))
        k4 = velocity(axpy(theta, dt, k3))
        theta = [t + dt / 6 * (a + 2 * b + 2 * c_ + d) for t, a, b, c_, d in zip(theta, k1, k2, k3, k4)]
        if (k + 1) % every == 0:
            curves.append(losses(theta))
    return curves


def main(path):
    c = json.load(open(path))
    seeds = c.get("seeds", 1)
    started = time.perf_counter()
    runs = [run(c, s) for s in range(seeds)]
    seconds = time.perf_counter() - started
    train = np.array([[r[0] for r in curves] for curves in runs])
    out = {"seconds": seconds, "trainLoss": float(train[:, -1].mean())}
    if "ytest" in c:
        test = np.array([[r[1] for r in curves] for curves in runs])
        sem = lambda a: (a.std(axis=0, ddof=1) / np.sqrt(seeds)).tolist() if seeds > 1 else [0.0] * a.shape[1]
        out["curves"] = {"trainLoss": train.mean(axis=0).tolist(), "trainLossSem": sem(train), "testLoss": test.mean(axis=0).tolist(), "testLossSem": sem(test)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
