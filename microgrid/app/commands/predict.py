"""``microgrid predict``: apply a saved model to a data file, one line per row."""

from __future__ import annotations

import argparse
import csv
import io
import sys

from microgrid.app.budgets import predict_estimate
from microgrid.app.cli import UsageError
from microgrid.app.commands import options
from microgrid.app.model_io import ModelFileError, NonFiniteOutputError, load_model
from microgrid.data import DataError, load_wisconsin
from microgrid.safety.atomic import write_text
from microgrid.safety.overwrite import OutputTaken, check_predictions_file
from microgrid.safety.text import escape, printable, quote

DESCRIPTION = """\
Apply a saved model to every row of DATA and print CSV to standard output: id, predicted class,
p_malignant (the probability of malignant).  A missing score is filled with the median of the
model's training rows (a note says how many rows had one).  Rows may leave out their class (the
column omitted, or written as '?' / NA); for the rows that give it, the accuracy against it is
reported on standard error.  An ID is written as plain text: control characters in it (line
breaks, terminal escape codes) appear as \\n, \\x1b, ... and a backslash as \\\\, so that no
ID can change the terminal and distinct IDs stay distinct."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="classify the rows of a data file with a saved model",
                              description=DESCRIPTION)
    p.add_argument("--model", type=options.path, required=True, metavar="MODEL.npz",
                   help="a model file written by 'microgrid train --out DIR'")
    p.add_argument("-o", "--output", type=options.path, metavar="FILE.csv",
                   help="write the CSV to FILE.csv instead of standard output (all-or-nothing: the "
                        "complete file, or after an error the old one untouched)")
    p.add_argument("--force", action="store_true",
                   help="let -o replace a file that does not hold earlier predictions (never the data "
                        "or model being read)")
    p.add_argument("data", type=options.path, metavar="DATA",
                   help="rows to classify (shipped CSV or UCI format)")
    options.add_budget_options(p, None)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:  # before any work: a long run cannot end in "cannot write"
        if args.output is not None:
            check_predictions_file(args.output, (args.data, args.model), force=args.force)
    except OutputTaken as exc:
        raise UsageError(f"--output {exc}") from None
    except FileNotFoundError as exc:
        raise UsageError(f"--output {args.output}: the folder {exc.filename} does not exist") from None
    except OSError as exc:  # e.g. a name too long for its folder
        raise UsageError(f"--output {args.output}: {exc.strerror or exc}") from None
    model = options.read_input(lambda: load_model(args.model, args.memory_budget), f"--model {args.model}",
                               ModelFileError)
    data = options.read_input(lambda: load_wisconsin(args.data, missing="keep", unlabelled=True),
                              str(args.data), DataError)
    if model.n_features != data.X.shape[1]:
        raise UsageError(f"{args.model}: the model takes {model.n_features} inputs but {args.data} has "
                         f"{data.X.shape[1]} scores per row (a model of another architecture)")
    options.within_budget(predict_estimate(model.net.dims, len(data)), args)
    try:
        proba = model.predict_proba(data.X)
    except NonFiniteOutputError as exc:  # finite weights whose arithmetic overflows: no NaN "probability"
        raise UsageError(f"{args.model}: the model's outputs are not finite (NaN or infinite), first for "
                         f"{args.data}, line {data.lines[exc.row]} (id {quote(str(data.ids[exc.row]))}): its "
                         "weights or scaler are too large for float64 arithmetic") from None
    predicted = (proba >= model.threshold).astype(int)
    table = io.StringIO()  # the whole CSV first: an error cannot leave half of it
    writer = csv.writer(table, lineterminator="\n")  # quotes IDs holding commas or quotes
    names = [escape(name) for name in model.target_names]
    writer.writerow(["id", "class", f"p_{names[1]}"])  # the probability of the second class
    writer.writerows([escape(str(ident)), names[cls], f"{p:.6f}"]
                     for ident, cls, p in zip(data.ids, predicted, proba))
    if args.output is None:
        sys.stdout.write(table.getvalue())
    else:
        try:  # an OSError names the file (see microgrid.app.cli)
            write_text(args.output, table.getvalue())
        except OutputTaken as exc:  # another process writing it, or a pipe put there since the check
            raise UsageError(f"--output {exc}") from None
        print(f"wrote {printable(str(args.output))} ({len(proba):,} rows)")
    if data.n_missing_rows:
        print(f"note: {data.n_missing_rows:,} row(s) had missing scores, filled with the training medians",
              file=sys.stderr)
    known = data.labelled
    if known.any():
        correct, n_known = int((predicted[known] == data.y[known]).sum()), int(known.sum())
        n_unknown = len(known) - n_known
        unknown = f"; {n_unknown:,} row{'s' * (n_unknown != 1)} without a class" if n_unknown else ""
        print(f"accuracy against the classes in {printable(str(args.data))}: {correct / n_known:.4f} "
              f"({correct:,}/{n_known:,} rows{unknown})", file=sys.stderr)
    return 0
