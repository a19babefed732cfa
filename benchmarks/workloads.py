"""Benchmark workloads, written once and built two ways: as ``.ntk`` source for
ntkc and as a ``stax.serial`` network for the peer (neural-tangents 0.6.5).

Only numpy is imported here, so the module loads in both the project's
environment and the peer's venv. A workload is a plain dict (JSON-able, so it
crosses the process boundary as text):

    {"name": "W1", "kind": "vector" | "image" | "graph",
     "layers": [["Dense", {"W_std": 1.5, "b_std": 0.1}], ["Relu", {}], ...],
     "n": 2000, "dim": 100}                  # vector: N examples of dim D
     "n": 100, "side": 8, "channels": 1}     # image: N × side × side × C
     "n": 200, "nodes": [10, 50], "features": 8}  # graph: sizes drawn in [lo, hi]

Inputs are drawn from one seeded numpy generator in the parent process and
handed to both implementations as the same ``.npz`` file.
"""

from __future__ import annotations

import math

import numpy as np

W, B = 1.5, 0.1
GW = math.sqrt(2)  # graphs: no bias, so padded nodes stay exactly zero in stax too


def fc(depth: int, n: int = 2000, dim: int = 100) -> dict:
    layers = [["Dense", {"W_std": W, "b_std": B}], ["Relu", {}]] * depth
    layers.append(["Dense", {"W_std": W, "b_std": B}])
    return {"name": f"fc-d{depth}", "kind": "vector", "layers": layers, "n": n, "dim": dim}


def cnn(readout: str, n: int = 100, side: int = 8) -> dict:
    conv = ["Conv", {"kernel": 3, "padding": "same", "W_std": W, "b_std": B}]
    layers = [conv, ["Relu", {}]] * 3 + [[readout, {}], ["Dense", {"W_std": W, "b_std": B}]]
    tag = "gap" if readout == "GlobalAvgPool" else "flat"
    return {"name": f"cnn-{tag}", "kind": "image", "layers": layers, "n": n, "side": side,
            "channels": 1}


def gnn(n: int = 200, nodes=(20, 20), features: int = 8) -> dict:
    block = [["GraphAgg", {"self_loops": True, "norm": "sum"}],
             ["Dense", {"W_std": GW, "b_std": 0.0}], ["Relu", {}]]
    return {"name": "gnn", "kind": "graph", "layers": block * 2 + [["GlobalSumPool", {}]],
            "n": n, "nodes": list(nodes), "features": features}


MAIN = {"W1": fc(10), "W2": cnn("GlobalAvgPool"), "W3": cnn("Flatten"), "W4": gnn()}


# -- ntkc ---------------------------------------------------------------------
def ntk_source(spec: dict) -> str:
    kind = spec["kind"]
    if kind == "vector":
        head = f"input vector(dim={spec['dim']})"
    elif kind == "image":
        s = spec["side"]
        head = f"input image(height={s}, width={s}, channels={spec['channels']})"
    else:
        head = f"input graph(features={spec['features']})"
    body = []
    for name, args in spec["layers"]:
        shown = ", ".join(f"{k}={_lit(v)}" for k, v in args.items())
        body.append(f"    {name}({shown})")
    return f"{head}\nnet {spec['name'].replace('-', '_')} {{\n" + "\n".join(body) + "\n}\n"


def _lit(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


# -- the peer -----------------------------------------------------------------
def stax_net(spec: dict, stax):
    """The same network as ``stax.serial`` (NTK parameterization)."""
    layers = []
    for name, a in spec["layers"]:
        if name == "Dense":
            layers.append(stax.Dense(1, W_std=a["W_std"], b_std=a["b_std"]))
        elif name == "Conv":
            k = (a["kernel"],) * 2
            layers.append(stax.Conv(1, k, padding=a["padding"].upper(), W_std=a["W_std"],
                                    b_std=a["b_std"]))
        elif name == "Relu":
            layers.append(stax.Relu())
        elif name == "GlobalAvgPool":
            layers.append(stax.GlobalAvgPool())
        elif name == "GlobalSumPool":
            layers.append(stax.GlobalSumPool())
        elif name == "Flatten":
            layers.append(stax.Flatten())
        elif name == "GraphAgg":
            # stax aggregates out[v] = Σ_u x[u]·P[u, v]; our Â acts as Â·x, so P = Âᵀ
            # (the pattern is built in stax_pattern below).
            layers.append(stax.Aggregate())
        else:
            raise ValueError(f"no stax equivalent written for {name}")
    return stax.serial(*layers)


def stax_pattern(spec: dict, adjacency, mask):
    """P = (A + I·mask)ᵀ for GraphAgg(self_loops=true, norm="sum")."""
    (agg,) = {tuple(sorted(a.items())) for n, a in spec["layers"] if n == "GraphAgg"}
    agg = dict(agg)
    assert agg["norm"] == "sum"
    p = adjacency + (mask[:, :, None] * np.eye(adjacency.shape[-1]) if agg["self_loops"] else 0)
    return np.swapaxes(p, 1, 2).astype(adjacency.dtype)


# -- inputs -------------------------------------------------------------------
def make_inputs(spec: dict, seed: int = 0, dtype: str = "float32") -> dict:
    """Seeded inputs: Gaussian features; graphs are Erdős–Rényi with mean
    degree ≈ 4, sizes drawn uniformly from ``nodes``, padded to the largest."""
    rng = np.random.default_rng(seed)
    n = spec["n"]
    if spec["kind"] == "vector":
        return {"x": rng.standard_normal((n, spec["dim"])).astype(dtype)}
    if spec["kind"] == "image":
        s = spec["side"]
        return {"x": rng.standard_normal((n, s, s, spec["channels"])).astype(dtype)}
    lo, hi = spec["nodes"]
    sizes = rng.integers(lo, hi + 1, size=n)
    v, f = int(sizes.max()), spec["features"]
    x = np.zeros((n, v, f), dtype)
    a = np.zeros((n, v, v), dtype)
    m = np.zeros((n, v), dtype)
    for i, k in enumerate(sizes):
        x[i, :k] = rng.standard_normal((k, f))
        upper = np.triu(rng.random((k, k)) < min(1.0, 4.0 / max(k - 1, 1)), 1)
        a[i, :k, :k] = upper | upper.T
        m[i, :k] = 1
    return {"features": x, "adjacency": a, "mask": m}
