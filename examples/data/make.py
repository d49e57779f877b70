"""Writes the .npy files of examples/configs/npy-files.json: y = tanh(2 beta.x) on the sphere |x|^2 = D.

Run from examples/: python3 data/make.py (numpy). Train arrays are float64, test arrays float32.
"""
import numpy as np

rng = np.random.default_rng(7)
D, P, Ptest = 8, 16, 64
beta = rng.standard_normal(D)
beta /= np.linalg.norm(beta)


def draw(n):
    X = rng.standard_normal((n, D))
    X *= np.sqrt(D) / np.linalg.norm(X, axis=1, keepdims=True)
    return X, np.tanh(2 * X @ beta)


X, y = draw(P)
Xt, yt = draw(Ptest)
np.save('data/X.npy', X)
np.save('data/y.npy', y)
np.save('data/Xtest.npy', Xt.astype(np.float32))
np.save('data/ytest.npy', yt.astype(np.float32))
