"""The ``ntkc`` command line: check, kernel (and verify, explain).

Exit status: 0 success, 1 an error in the source or data, 2 bad usage,
3 ``verify`` found kernel and Monte Carlo disagree.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DISAGREE = 0, 1, 2, 3

COMMANDS = {}


def command(name, help):
    def register(fn):
        COMMANDS[name] = (fn, help)
        return fn
    return register


def _load_net(path, net, readout=True):
    import ntkc
    from ntkc.parse import read_source
    source = read_source(path)
    return ntkc.check_source(source, net, str(path), readout=readout)


@command("check", "parse and type-check a .ntk file; print its layer table")
def cmd_check(args):
    """Check the net named by --net, or every net in the file (so an error in
    any of them is reported), printing one layer table per net."""
    if args.net is not None:
        print(layer_table(_load_net(args.file, args.net)))
        return EXIT_OK
    import ntkc
    from ntkc.check import net_names
    from ntkc.parse import parse, read_source
    source = read_source(args.file)
    module = parse(source, str(args.file))
    names = net_names(module) or [None]  # None: the checker reports the missing net
    print("\n\n".join(layer_table(ntkc.check(module, name, str(args.file), source))
                      for name in names))
    return EXIT_OK


def check_args(p):
    p.add_argument("file")
    p.add_argument("--net", help="which net (check: every net in the file; other commands: "
                                 "the last one)")


def layer_table(net) -> str:
    rows = [("#", "layer", "arguments", "output", "line")]
    rows.append(("", "input", "", net.input.describe() + f" x {net.input.channels} channels", ""))

    def add(nodes, indent, prefix):
        for i, node in enumerate(nodes, 1):
            idx = f"{prefix}{i}"
            # A layer from a def shows its line there and the line(s) of the use.
            line = " via ".join(str(p[0]) for p in (node.pos,) + tuple(reversed(node.via)))
            rows.append((idx, "  " * indent + node.layer, node.describe_args(),
                         node.out_shape.describe(), line))
            for body in node.bodies:
                add(body, indent + 1, idx + ".")

    add(net.layers, 0, "")
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"net {net.name} ({net.filename})"]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


@command("kernel", "compute the NNGP/NTK Gram of a .ntk net on arrays in .npy/.npz files")
def cmd_kernel(args):
    """In memory (--out), or into a resumable store on disk (--store), here
    or on a Dask cluster; --store alone with --status or --out reads a store."""
    if args.store is None:
        for flag, given in (("--status", args.status), ("--scheduler", args.scheduler),
                            ("--workers", args.workers), ("--chunk", args.chunk)):
            if given:
                return _usage(f"{flag} needs --store PATH")
        if args.file is None or args.x1 is None or args.out is None:
            return _usage("give NET.ntk --x1 X.npy --out K.npy (or --store PATH)")
    elif args.file is None and not (args.status or args.out):
        return _usage(f"--store {args.store} without a net: add --status or --out K.npy, "
                      f"or give NET.ntk --x1 X.npy to compute")
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import ntkc
    if args.store is not None:
        return _kernel_store(args)
    kernel = ntkc.Kernel(_load_net(args.file, args.net))
    x1 = load_inputs(args.x1, kernel)
    x2 = None if args.x2 is None else load_inputs(args.x2, kernel)
    names = _get(args)
    out = kernel(x1, x2, get=names, batch_size=args.batch_size, memory_limit=args.memory_limit,
                 progress=args.progress)
    if len(names) == 1:
        np.save(args.out, np.asarray(out[0]))
    else:
        np.savez(args.out, **{n: np.asarray(o) for n, o in zip(names, out)})
    shape = tuple(out[0].shape)
    print(f"wrote {', '.join(names)} {shape} {out[0].dtype} to {args.out}")
    return EXIT_OK


def _get(args):
    return tuple(g.strip() for g in args.get.split(",") if g.strip())


def _usage(message):
    print(f"ntkc kernel: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _kernel_store(args):
    import numpy as np
    import ntkc
    from ntkc import store
    if args.status or args.file is None:
        gs = store.open(args.store)
    else:
        if args.x1 is None:
            return _usage("computing into a store needs --x1 X.npy")
        kernel = ntkc.Kernel(_load_net(args.file, args.net))
        x1 = load_inputs(args.x1, kernel)
        x2 = None if args.x2 is None else load_inputs(args.x2, kernel)
        with _dask(args) as client:
            gs = kernel.gram(x1, x2, store=args.store, get=_get(args), batch_size=args.batch_size,
                             memory_limit=args.memory_limit, chunk=args.chunk, client=client,
                             progress=args.progress)
        print(f"{args.store}: {gs.computed} chunk(s) computed now")
    status = gs.status()
    print(status)
    if args.out is not None:
        if not status.complete:
            print(f"not writing {args.out}: the store is not complete", file=sys.stderr)
            return EXIT_ERROR
        if len(gs.names) == 1:
            gs.save(args.out)
        else:
            np.savez(args.out, **{n: gs.array(n) for n in gs.names})
        print(f"wrote {', '.join(gs.names)} ({gs.n1}, {gs.n2}) {gs.dtype} to {args.out}")
    return EXIT_OK


class _dask:
    """The client for --scheduler ADDRESS or --workers N (a local cluster on
    127.0.0.1 of N one-thread worker processes), else None (in process)."""

    def __init__(self, args):
        self.args, self.cluster, self.client = args, None, None

    def __enter__(self):
        if self.args.scheduler is None and self.args.workers is None:
            return None
        from ntkc.errors import NtkError
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise NtkError("--scheduler/--workers need dask.distributed: "
                           "pip install 'ntkc[distributed]'") from None
        if self.args.workers is not None:
            self.cluster = LocalCluster(n_workers=self.args.workers, threads_per_worker=1,
                                        processes=True, host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            self.client = Client(self.args.scheduler, timeout="30s")
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def kernel_args(p):
    p.add_argument("file", nargs="?", help="the .ntk file (omit with --store … --status/--out)")
    p.add_argument("--net", help="which net (default: the last one)")
    p.add_argument("--x1", help=".npy array; for graphs an .npz with features/adjacency[/mask] "
                   "or a TU data set (NAME/NAME.txt or the folder NAME)")
    p.add_argument("--x2", help="second input (default: x1)")
    p.add_argument("--get", default="ntk", help="nngp, ntk or nngp,ntk (default ntk)")
    p.add_argument("--out", help="output .npy (one kernel) or .npz (several)")
    p.add_argument("--batch-size", type=_positive, default=None,
                   help="rows per block (default: planned from --memory-limit)")
    p.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="working-memory budget per block, e.g. 8GB or 512MiB (default 2GiB, "
                        "ntkc.blocking.DEFAULT_MEMORY)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: on when stderr is a terminal "
                        "and the Gram has several blocks)")
    s = p.add_argument_group("resumable store (pip install 'ntkc[store]' / 'ntkc[distributed]')")
    s.add_argument("--store", metavar="PATH", help="compute into (or resume) a zarr Gram store; "
                   "with --out, assemble it")
    s.add_argument("--status", action="store_true",
                   help="print how much of --store is done, compute nothing")
    s.add_argument("--chunk", type=_positive, default=None,
                   help="examples per store chunk side (default: planned, "
                        "ntkc.gramjob.chunk_sizes)")
    d = s.add_mutually_exclusive_group()
    d.add_argument("--scheduler", metavar="ADDRESS",
                   help="compute on a running Dask cluster, e.g. tcp://10.0.0.1:8786")
    d.add_argument("--workers", type=_positive, metavar="N",
                   help="compute on a local Dask cluster of N worker processes")


def load_inputs(path, kernel):
    """Read an input batch for ``kernel`` from .npy (arrays) or .npz (graphs),
    or for a graph net a TU data set (``NAME.txt`` or its folder, the format
    ``ntkc.data.load_tu`` reads): graphs come back as an ``ntkc.Graphs``."""
    import numpy as np
    import ntkc
    from ntkc.errors import NtkError
    tu = _tu_path(path) if kernel.net.input.kind == "graph" else None
    if tu is not None:
        from ntkc.data import load_tu
        return load_tu(tu[0], tu[1]).graphs.astype(np.float64)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NtkError("no such file", str(path)) from None
    except (ValueError, OSError) as e:
        raise NtkError(f"cannot read as .npy/.npz: {e}", str(path)) from None
    if kernel.net.input.kind == "graph":
        if not hasattr(data, "files") or "features" not in data.files or "adjacency" not in data.files:
            raise NtkError("a graph input is a TU data set (NAME.txt or its folder) or an .npz "
                           "with arrays 'features' (N, V, F), 'adjacency' (N, V, V) and "
                           "optionally 'mask' (N, V)", str(path))
        batch = ntkc.GraphBatch(data["features"], data["adjacency"],
                                data["mask"] if "mask" in data.files else None)
        return ntkc.Graphs.from_padded(batch, str(path), kernel.net.input.channels)
    if hasattr(data, "files"):
        if len(data.files) != 1:
            raise NtkError(f"expected one array, found {', '.join(data.files)}", str(path))
        return data[data.files[0]]
    return data


def _tu_path(path):
    """(root, name) when ``path`` is a TU data set's NAME.txt[.gz] or its folder."""
    from pathlib import Path
    p = Path(path)
    if p.is_dir() and any((p / f"{p.name}{ext}").is_file() for ext in (".txt", ".txt.gz")):
        return p.parent, p.name
    for ext in (".txt", ".txt.gz"):
        if p.name.endswith(ext) and p.is_file() and p.parent.name == p.name[:-len(ext)]:
            return p.parent.parent, p.parent.name
    return None


@command("explain", "print a net's kernel recursion (Σ, Σ̇, Θ per layer) as mathematics")
def cmd_explain(args):
    from ntkc.explain import explain
    expl = explain(_load_net(args.file, args.net))
    if args.expand:
        expl = expl.expand()
    print({"latex": expl.latex, "text": expl.text, "markdown": expl.markdown}[args.format]())
    return EXIT_OK


def explain_args(p):
    check_args(p)
    p.add_argument("--format", choices=("latex", "text", "markdown"), default="latex",
                   help="LaTeX (an align* environment, the default), plain text, or Markdown")
    p.add_argument("--expand", action="store_true",
                   help="write the output kernels in the input inner products alone "
                        "(vector inputs, small nets)")


@command("verify", "compare a net's kernels with Monte Carlo estimates from finite networks")
def cmd_verify(args):
    import jax
    jax.config.update("jax_enable_x64", True)
    import ntkc
    from ntkc.verification import random_inputs, verify
    kernel = ntkc.Kernel(_load_net(args.file, args.net))
    x1 = random_inputs(kernel, args.n, args.seed) if args.x1 is None else load_inputs(args.x1, kernel)
    x2 = None if args.x2 is None else load_inputs(args.x2, kernel)
    report = verify(kernel, x1, x2, width=args.width, samples=args.samples, seed=args.seed,
                    alpha=args.alpha)
    print(report)
    return EXIT_OK if report.passed else EXIT_DISAGREE


def verify_args(p):
    from ntkc.verification import DEFAULT_SAMPLES, DEFAULT_WIDTH
    check_args(p)
    p.add_argument("--width", type=_positive, default=DEFAULT_WIDTH,
                   help=f"channels per hidden weight layer (default {DEFAULT_WIDTH})")
    p.add_argument("--samples", type=_positive, default=DEFAULT_SAMPLES,
                   help=f"networks drawn, at least 2 (default {DEFAULT_SAMPLES})")
    p.add_argument("--n", type=_positive, default=6, help="random inputs to draw (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed for inputs and draws (default 0)")
    p.add_argument("--x1", help="inputs instead of random ones (.npy, or .npz for graphs)")
    p.add_argument("--x2", help="second inputs (default: x1)")
    p.add_argument("--alpha", type=float, default=1e-3,
                   help="false-alarm probability of the verdict (default 1e-3)")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="ntkc", description="compile .ntk networks to their "
                                     "infinite-width NNGP and NTK kernels")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (fn, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        ARGS[name](p)
        p.set_defaults(run=fn)
    return parser


ARGS = {"check": check_args, "kernel": kernel_args, "explain": explain_args,
        "verify": verify_args}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        # a source's warnings as a compiler prints them, without Python's frame
        warnings.showwarning = _show_warning
        return _run(args)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    from ntkc.errors import NtkWarning
    text = str(message) if issubclass(category, NtkWarning) else \
        warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    print(text, file=sys.stderr if file is None else file)


def _run(args) -> int:
    from ntkc.errors import NtkError
    try:
        return args.run(args)
    except NtkError as e:
        print(str(e), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as e:  # a bug in ntkc, not in the user's input
        if os.environ.get("NTKC_DEBUG"):
            raise
        print(f"ntkc: internal error: {type(e).__name__}: {e} (set NTKC_DEBUG=1 for a traceback; "
              f"please report it)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
