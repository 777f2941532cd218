"""``microgrid graph``: draw the graph of an expression or of one Wisconsin sample through an MLP
(examples in docs/visualization.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from microgrid import viz
from microgrid.app.budgets import GRAPH_TIME_BUDGET, drawing_estimate, graph_estimate
from microgrid.app.cli import UsageError
from microgrid.app.commands import options
from microgrid.app.expr import ExpressionError, parse_assignment, parse_expression
from microgrid.data import load_wisconsin
from microgrid.data.preprocessing import make_scaler
from microgrid.engine import Value
from microgrid.functional import PROB_EPS, bce, bce_with_logits, uses_logits
from microgrid.nn import MLP
from microgrid.safety.overwrite import OutputTaken, check_page, check_picture, check_step_folder
from microgrid.safety.text import printable, quote
from microgrid.viz import backend, format_number

DESCRIPTION = ("Draw the computation graph that backprop walks: of an expression (--expr, safely parsed) "
               "or of one shipped Wisconsin sample through a freshly initialised MLP (--mlp), with the "
               "gradients of a backward pass unless --no-grad; as one picture (-o), a picture per "
               "backward step (--steps) and a page to explore (--html).")
MAX_MLP_VALUES = 500_000  # a graph this size takes a few seconds and ~200 MB to build
MLP_ONLY = ("--sample", "--seed", "--activations", "--root", "--raw-inputs")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("graph", description=DESCRIPTION,
                              help="draw the computation graph (and the backward pass, step by step)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--expr", metavar="TEXT",
                        help="an expression such as 'tanh(a*b + c)': names, numbers, + - * / **, and "
                             "exp log tanh sigmoid relu leaky_relu softplus abs sqrt")
    source.add_argument("--mlp", type=options.layer_sizes, metavar="SIZES",
                        help="layer sizes of an MLP, e.g. 9,15,1 (9 inputs: the Wisconsin features; "
                             "1 output)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=NUMBER",
                   help="value of a variable of --expr (repeat for each variable)")
    p.add_argument("--sample", type=int, metavar="N",
                   help="which Wisconsin sample (row, 0-based, missing values dropped) to feed the MLP "
                        "(default 0)")
    p.add_argument("--seed", type=options.seed,
                   help="for --mlp: seed of the MLP's initial weights (default 0)")
    p.add_argument("--activations", metavar="LIST",
                   help="for --mlp: one activation per layer, e.g. tanh,sigmoid (default: relu hidden, "
                        "sigmoid output)")
    p.add_argument("--root", choices=("loss", "output"),
                   help="for --mlp: draw up to the loss (default: BCE(sigmoid(z), y), computed as training "
                        "computes it from the output neuron's logit z, softplus(z) - y*z; the output box "
                        "shows the probability sigmoid(z)) or up to the network's output, sigmoid included")
    p.add_argument("--raw-inputs", action="store_true", default=None,
                   help="for --mlp: feed the raw 1-10 scores instead of what training feeds (each feature "
                        "min-max scaled to [0, 1] over the shipped rows)")
    p.add_argument("-o", "--output", metavar="FILE", type=options.path,
                   help="picture to write: .svg, .png, .pdf (need Graphviz's dot; for .svg and .png, "
                        "pip install graphviz-pure also works) or .dot (DOT source); replaces a picture "
                        "microgrid wrote, anything else (and any .pdf) only with --force")
    p.add_argument("--steps", metavar="DIR", type=options.path,
                   help="also write one SVG per backward step and DIR/index.html to step through them")
    p.add_argument("--html", metavar="FILE", type=options.path,
                   help="also write the explorer: one self-contained HTML page (open it in a browser) to "
                        "step through the backward pass and inspect every node")
    p.add_argument("--force", action="store_true",
                   help="let -o and --html replace a file (or link), and --steps a folder's index.html, "
                        "that microgrid did not write (a folder holding other files is never replaced)")
    p.add_argument("--no-grad", action="store_true", help="do not run backward; draw data only")
    p.add_argument("--group", choices=("none", "neurons", "collapse"),
                   help="neurons: a cluster per neuron and layer; collapse: one box per neuron "
                        "(default: collapse for --mlp, none for --expr)")
    p.add_argument("--color-by-grad", action="store_true",
                   help="fill values by |grad| on a log scale (vanishing = blue, exploding = red)")
    p.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                   help="left-to-right or top-to-bottom (default LR)")
    p.add_argument("--max-nodes", type=options.positive_int, default=viz.DEFAULT_MAX_NODES, metavar="N",
                   help=f"refuse graphs with more drawn nodes than this (default {viz.DEFAULT_MAX_NODES})")
    options.add_budget_options(p, "pictures", GRAPH_TIME_BUDGET)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _check_outputs(args)
    root, drawing, title = _expression_graph(args) if args.expr is not None else _mlp_graph(args)
    group = args.group or ("collapse" if args.mlp is not None else "none")
    drawing.update(group=None if group == "none" else group, rankdir=args.rankdir, max_nodes=args.max_nodes)
    try:
        _check_drawing(args, root, drawing)
        if args.output is not None:
            if not args.no_grad:
                root.backward()
            graph = viz.draw_dot(root, show_grad=not args.no_grad, title=title,
                                 color_by_grad=args.color_by_grad, **drawing)
            viz.render(graph, args.output, force=args.force)
            print(f"wrote {printable(str(args.output))}")
        if args.steps is not None:
            files = viz.write_backward_steps(root, args.steps, title=f"backward pass: {title}",
                                             force=args.force, color_by_grad=args.color_by_grad, **drawing)
            index = printable(str(files.index))
            print(f"wrote {len(files.svgs)} step pictures and {index} (open it in a browser)")
        if args.html is not None:
            page = viz.write_explorer(root, args.html, title=title, force=args.force, **drawing)
            print(f"wrote {printable(str(page))} (open it in a browser)")
    except viz.GraphTooLarge as exc:
        if exc.what == "steps":
            raise UsageError(f"the backward walk has {exc.count:,} steps, more than the {exc.limit:,} that "
                             "--steps and --html draw: use a smaller graph") from None
        ungrouped_mlp = args.mlp is not None and drawing["group"] is None
        hint = "--group collapse (one box per neuron), " if ungrouped_mlp else ""
        raise UsageError(f"the graph has {exc.count:,} nodes to draw, more than --max-nodes {exc.limit:,}: "
                         f"draw it with {hint}a smaller graph, or a larger --max-nodes") from None
    except (ValueError, viz.GraphvizNotFound, OutputTaken) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # e.g. -o into a read-only place, --steps naming an existing file
        raise UsageError(f"cannot write {exc.filename or 'the output'}: {exc.strerror or exc}") from None
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """UsageError, before any work, for outputs that cannot be written or may not be replaced."""
    out, html = args.output, args.html
    if out is None and args.steps is None and html is None:
        raise UsageError("nothing to write: give -o FILE (e.g. -o graph.svg), --steps DIR and/or --html FILE")
    if args.no_grad and args.color_by_grad:
        raise UsageError("--color-by-grad needs gradients; drop --no-grad")
    if out is not None:
        suffix = out.suffix.lower()
        if suffix not in viz.OUTPUT_FORMATS:
            given = f"the extension {suffix!r}" if suffix else "a name without an extension"
            raise UsageError(f"-o {out}: cannot tell the format from {given}; "
                             f"use one of {', '.join(viz.OUTPUT_FORMATS)}")
        if (fmt := viz.OUTPUT_FORMATS[suffix]) is not None and (problem := backend.why_not(fmt)) is not None:
            raise UsageError(f"-o {out}: {problem}; or write the DOT source with "
                             f"-o {out.with_suffix('.dot')}")
        _check_parent("-o", out)
    if args.steps is not None and (problem := backend.why_not("svg")) is not None:
        raise UsageError(f"--steps {args.steps}: the step pictures are SVG; {problem}")
    if html is not None:
        if args.no_grad:
            raise UsageError("--html shows the backward pass; drop --no-grad")
        if html.suffix.lower() not in (".html", ".htm"):
            raise UsageError(f"--html {html}: the explorer is an HTML page; name it with .html")
        _check_parent("--html", html)
        if (problem := backend.why_not("svg")) is not None:
            raise UsageError(f"--html {html}: the page draws the graph as SVG; {problem}")
    checks = (("-o", out, check_picture), ("--steps", args.steps, check_step_folder),
              ("--html", html, check_page))
    if args.steps is not None:  # the step folder is replaced as a whole: nothing else may go in it
        steps = Path(os.path.abspath(args.steps))
        for option, path, _ in (checks[0], checks[2]):
            if path is not None and steps in Path(os.path.abspath(path)).parents:
                raise UsageError(f"{option} {path} is inside the --steps folder {args.steps}, which is "
                                 "replaced as a whole; write it elsewhere")
    for option, path, check in checks:  # never replace what microgrid did not write
        if path is not None:
            try:
                check(path, args.force)
            except OutputTaken as exc:
                raise UsageError(f"{option} {exc}") from None
            except OSError as exc:
                raise UsageError(f"{option} {exc.filename or path}: {exc.strerror or exc}") from None


def _check_drawing(args: argparse.Namespace, root: Value, drawing: dict[str, Any]) -> None:
    """UsageError, before anything is drawn, when the pictures asked for need more than --time-budget
    or --memory-budget (dot's time grows with the cube of the edges drawn)."""
    walks = args.steps is not None or args.html is not None  # their step limit before the budgets
    size = viz.drawing_size(root, max_steps=viz.DEFAULT_MAX_STEPS if walks else None, **drawing)
    output = args.output is not None and viz.OUTPUT_FORMATS[args.output.suffix.lower()] is not None
    steps = size.steps if args.steps is not None else 0
    views = size.views if args.html is not None else 0
    parts = [f"{n:,} {kind}{'s' * (n > 1)} ({option})" for n, kind, option in (
        (output, "picture", "-o"), (steps, "step picture", "--steps"), (views, "explorer view", "--html"))
        if n]
    what = f"drawing {' and '.join(parts)} of {size.edges:,} edges{' each' * (output + steps + views > 1)}"
    options.within_budget(drawing_estimate(size.nodes, size.edges, output, steps, views, what), args)


def _check_parent(option: str, path: Path) -> None:
    if not path.parent.is_dir():
        problem = "is not a directory" if path.parent.exists() else "does not exist"
        raise UsageError(f"{option} {path}: {str(path.parent)!r} {problem}")


def _expression_graph(args: argparse.Namespace) -> tuple[Value, dict[str, Any], str]:
    if args.group not in (None, "none"):
        raise UsageError(f"--group {args.group} groups the neurons of an --mlp graph; an --expr graph "
                         "has none")
    for option in MLP_ONLY:
        if getattr(args, option.lstrip("-").replace("-", "_")) is not None:
            raise UsageError(f"{option} is an option of --mlp; it has no meaning with --expr")
    try:
        expression = parse_expression(args.expr)
        values: dict[str, float] = {}
        for text in args.assignments:
            name, value = parse_assignment(text)
            if name in values:
                raise UsageError(f"--set {quote(name)} is given twice")
            values[name] = value
    except ExpressionError as exc:
        raise UsageError(str(exc)) from None
    unused = [n for n in values if n not in expression.variables]
    if unused:
        raise UsageError(f"--set: {quote(unused[0])} does not appear in the expression")
    missing = [n for n in expression.variables if n not in values]
    if missing:
        raise UsageError(f"variable {quote(missing[0])} has no value: add --set {missing[0]}=NUMBER")
    root, _ = expression.evaluate(values)
    settings = ", ".join(f"{n}={v:g}" for n, v in values.items())
    return root, {}, f"{args.expr}" + (f"  with {settings}" if settings else "")


def _mlp_graph(args: argparse.Namespace) -> tuple[Value, dict[str, Any], str]:
    if args.assignments:
        raise UsageError("--set gives variables of --expr; it has no meaning with --mlp")
    sizes, sample, seed = list(args.mlp), args.sample or 0, args.seed or 0
    data = load_wisconsin()
    n_features = data.X.shape[1]
    given, arch = ",".join(map(str, sizes)), "-".join(map(str, sizes))
    if sizes[0] != n_features:
        raise UsageError(f"--mlp {given}: the first size must be {n_features} (the Wisconsin data has "
                         f"{n_features} features), got {sizes[0]}")
    if sizes[-1] != 1:
        raise UsageError(f"--mlp {given}: the last size must be 1 (one output: the probability of "
                         f"{data.target_names[1]}), got {sizes[-1]}")
    layers = list(zip(sizes[:-1], sizes[1:]))
    # inputs, weights and biases, a dot and an activation per neuron
    n_values = sizes[0] + sum(n_out * (n_in + 1) + 2 * n_out for n_in, n_out in layers) + 4
    if n_values > MAX_MLP_VALUES:
        raise UsageError(f"--mlp {given}: its graph for one sample would hold about {n_values:,} Values, "
                         f"more than the {MAX_MLP_VALUES:,} this command builds; use smaller layers")
    n_edges = sum(2 * n_out * (n_in + 1) for n_in, n_out in layers)
    what = f"the graph of {arch} for one sample ({n_values:,} Values)"
    options.within_budget(graph_estimate(n_values, n_edges, what), args)
    if not 0 <= sample < len(data.y):
        n = len(data.y)
        raise UsageError(f"--sample {sample}: there are {n} samples, numbered 0 to {n - 1}")
    if args.activations is not None and not args.activations.strip():
        raise UsageError("--activations is empty: give one activation per layer, e.g. tanh,sigmoid")
    default = ["relu"] * (len(sizes) - 2) + ["sigmoid"]  # the network microgrid train trains
    activations = [name.strip() for name in args.activations.split(",")] if args.activations else default
    try:
        mlp = MLP(sizes[0], sizes[1:], activations=activations, init="he", seed=seed)
    except ValueError as exc:
        raise UsageError(f"--mlp {given} --activations {quote(args.activations)}: {exc}") from None
    if args.raw_inputs:
        row, fed = data.X[sample], "raw 1-10 scores"
    else:  # what training feeds: min-max scaled (over the shipped rows, as a full-data training run fits it)
        row = make_scaler("minmax").fit(data.X).transform(data.X[sample : sample + 1])[0]
        fed = "inputs min-max scaled to [0, 1] as in training"
    x = [Value(float(v), label=f"x{i}: {name}") for i, (v, name) in enumerate(zip(row, data.feature_names))]
    target = int(data.y[sample])
    root = _mlp_root(args, mlp, x, target, data.target_names)
    title = (f"Wisconsin sample {sample} (id {data.ids[sample]}, {data.target_names[target]}) "
             f"through a fresh {arch} MLP (seed {seed}), {fed}")
    print(f"feeding sample {sample}: {fed}"
          + ("" if args.raw_inputs else " (--raw-inputs feeds the raw 1-10 scores)"))
    return root, {"params": mlp, "inputs": x}, title


def _mlp_root(args: argparse.Namespace, mlp: Any, x: list[Value], target: int,
              names: tuple[str, ...]) -> Value:
    """The node the picture ends at: the loss as training computes it (``MLP.loss``), or with
    ``--root output`` the network's output.  The label enters the loss as a number (it picks the
    branch), so it is not a node of the graph."""
    if args.root != "output" and uses_logits("bce", mlp.activations[-1]):
        z = mlp.logits(x)
        p = format_number(Value(z.data).sigmoid().data)
        z.label = f"z (logit): p({names[1]}) = sigmoid(z) = {p}"
        root = bce_with_logits(z, target)
        root.label = f"loss = BCE(sigmoid(z), y) = softplus(z) − y·z; y = {target}"
        return root
    output = mlp(x)
    assert isinstance(output, Value)  # one output neuron: the last size is 1 (checked by the caller)
    if args.root == "output":
        output.label = f"p({names[1]})" if mlp.activations[-1] == "sigmoid" else "output"
        return output
    if not PROB_EPS <= output.data <= 1.0 - PROB_EPS:
        # bce clamps an output outside (0, 1) to a constant: the loss no longer depends on the net
        raise UsageError(f"--activations {quote(args.activations)}: the network's output "
                         f"{output.data:.4g} is not a probability, so its BCE loss is a constant "
                         "with no graph to draw; end --activations with sigmoid or linear, or draw "
                         "--root output")
    root = bce(output, target)
    root.label = f"loss: BCE vs y={target} ({names[target]})"
    return root
