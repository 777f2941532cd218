"""``microgrid predict`` and model files: crafted archives, overflowing models, CSV output."""

import csv
import io
import os
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

from microgrid.app.model_io import Classifier, ModelFileError, load_model, save_model
from microgrid.data import load_wisconsin
from microgrid.data.preprocessing import MinMaxScaler
from microgrid.safety.text import escape
from microgrid.vectorized import VectorizedMLP

from helpers import one_line_error, run_cli

ROWS = "1,1,1,1,1,1,1,1,1,1,2\n2,1,1,1,1,1,1,1,1,1,2\n3,10,10,1,1,1,1,1,1,1,4\n4,10,10,1,1,1,1,1,1,1,4\n"


@pytest.fixture(scope="module")
def model_arrays(tmp_path_factory):
    """The arrays of a small saved 9-4-1 model (no training needed)."""
    X = load_wisconsin().X
    model = Classifier(net=VectorizedMLP([9, 4, 1], activations=["relu", "sigmoid"], seed=0),
                       scaler=MinMaxScaler().fit(X), fill_values=np.median(X, axis=0),
                       feature_names=tuple(f"f{i}" for i in range(9)), target_names=("benign", "malignant"))
    path = tmp_path_factory.mktemp("model") / "model.npz"
    save_model(path, model)
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "rows.data"
    path.write_text(ROWS)
    return path


def npy_bytes(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def write_zip(path, members):
    """An .npz-like zip: ``members`` maps member names to arrays (written as .npy) or raw bytes."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in members.items():
            zf.writestr(name, value if isinstance(value, bytes) else npy_bytes(value))
    return path


def as_members(arrays):
    return {f"{k}.npy": v for k, v in arrays.items()}


def lying_npy(shape, data=bytes(16), descr="<f8"):
    """A .npy member whose header declares ``shape`` but which holds only ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def run_strict(argv):
    """``run_cli`` with every warning turned into an error (a leaked warning fails the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return run_cli(argv)


def predict_error(model_path, data_file, *needles):
    one_line_error(*run_strict(["predict", "--model", str(model_path), str(data_file)]), *needles)
    with pytest.raises(ModelFileError):
        load_model(model_path)


def test_the_small_model_predicts(tmp_path, model_arrays, data_file):
    path = write_zip(tmp_path / "ok.npz", as_members(model_arrays))
    status, out, err = run_strict(["predict", "--model", str(path), str(data_file)])
    assert status == 0, err
    assert len(out.splitlines()) == 5


# ---- 1. zip members that are not .npy arrays ---------------------------------------------------


def test_a_raw_zip_member_is_not_a_model(tmp_path, model_arrays, data_file):
    members = as_members({k: v for k, v in model_arrays.items() if k != "format"})
    path = write_zip(tmp_path / "raw.npz", {**members, "format": b"microgrid-mlp"})
    predict_error(path, data_file, "raw.npz: not a microgrid model file", "'format'", "not a .npy array")


def test_an_extra_non_array_member_is_refused(tmp_path, model_arrays, data_file):
    path = write_zip(tmp_path / "notes.npz", {**as_members(model_arrays), "notes.txt": b"hello"})
    predict_error(path, data_file, "not a microgrid model file", "'notes.txt'")


# ---- 2. headers that declare more data than the member holds ---------------------------------


def test_an_unknown_entry_is_refused_unread(tmp_path, model_arrays, data_file):
    members = {**as_members(model_arrays), "junk.npy": lying_npy((10**12,))}
    predict_error(write_zip(tmp_path / "junk.npz", members), data_file, "unknown entry 'junk'")


@pytest.mark.parametrize("key", ["W1", "b2", "fill_values", "scaler.min", "dims", "format", "threshold"])
def test_a_huge_declared_shape_is_refused_without_allocating(tmp_path, model_arrays, data_file, key):
    members = {**as_members(model_arrays), f"{key}.npy": lying_npy((10**12,))}
    predict_error(write_zip(tmp_path / "huge.npz", members), data_file, "huge.npz: corrupt model file",
                  f"entry {key!r} declares 8000000000000 bytes", "(1000000000000,)")


def test_a_header_that_does_not_match_the_member_size(tmp_path, model_arrays, data_file):
    # the shape the architecture needs, but 16 bytes of data instead of 9 * 4 * 8
    members = {**as_members(model_arrays), "W1.npy": lying_npy((4, 9))}
    predict_error(write_zip(tmp_path / "short.npz", members), data_file, "short.npz: ", "'W1'",
                  "declares 288 bytes of data but holds 16")


def test_a_huge_string_entry_is_refused(tmp_path, model_arrays, data_file):
    members = {**as_members(model_arrays), "feature_names.npy": lying_npy((9,), descr="<U100000000")}
    predict_error(write_zip(tmp_path / "names.npz", members), data_file, "'feature_names'", "holds 16")


def test_an_object_header_is_refused_as_pickle(tmp_path, model_arrays, data_file):
    members = {**as_members(model_arrays), "dims.npy": lying_npy((3,), descr="|O")}
    predict_error(write_zip(tmp_path / "obj.npz", members), data_file, "pickled Python objects")


def test_duplicate_members_are_refused(tmp_path, model_arrays, data_file):
    path = tmp_path / "dup.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(path, "w") as zf:
            for name, value in as_members(model_arrays).items():
                zf.writestr(name, npy_bytes(value))
            zf.writestr("W1.npy", npy_bytes(np.zeros((4, 9))))
    predict_error(path, data_file, "more than one 'W1'")


# ---- 3. finite weights whose outputs are not ----------------------------------------------------


def huge_weights(model_arrays):
    """W1 all 1e308: rows 1-2 (every score 1, scaled to 0) stay finite, rows 3-4 overflow to
    hidden activations of inf, and output weights of both signs make inf - inf = NaN."""
    return dict(model_arrays, W1=np.full((4, 9), 1e308), W2=np.array([[1.0, -1.0, 1.0, -1.0]]))


def test_huge_weights_give_no_nan_probabilities(tmp_path, model_arrays, data_file):
    path = write_zip(tmp_path / "huge.npz", as_members(huge_weights(model_arrays)))
    one_line_error(*run_strict(["predict", "--model", str(path), str(data_file)]),
                   "huge.npz: the model's outputs are not finite", f"{data_file}, line 3 (id '3')")


def test_the_first_row_with_a_non_finite_output_is_named(tmp_path, model_arrays, data_file):
    # h0 = h1 = relu(1e308 * x0 + 1e308) overflows where the scaled first score is above ~0.8, and
    # the output h0 - h1 is then inf - inf: rows 1-2 (score 1) are finite, row 3 (score 10) is not
    W1 = np.zeros((4, 9))
    W1[:2, 0] = 1e308
    arrays = dict(model_arrays, W1=W1, b1=np.array([1e308, 1e308, 0, 0]), W2=np.array([[1.0, -1.0, 0, 0]]),
                  b2=np.zeros(1))
    path = write_zip(tmp_path / "half.npz", as_members(arrays))
    one_line_error(*run_strict(["predict", "--model", str(path), str(data_file)]),
                   "not finite", f"{data_file}, line 3 (id '3')")
    model = load_model(path)
    with pytest.raises(ValueError, match="row 2"):  # the library says which row (0-based) too
        model.predict_proba(load_wisconsin(data_file).X)


def test_huge_weights_leak_no_warning_from_the_console_script(tmp_path, model_arrays, data_file):
    path = write_zip(tmp_path / "huge.npz", as_members(huge_weights(model_arrays)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    argv = [sys.executable, "-m", "microgrid", "predict", "--model", str(path), str(data_file)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("microgrid predict: error: ") and "Warning" not in proc.stderr


@pytest.mark.parametrize("feature", [0, 4])
def test_a_scaler_range_that_overflows_is_refused(tmp_path, model_arrays, data_file, feature):
    lo, hi = model_arrays["scaler.min"].copy(), model_arrays["scaler.max"].copy()
    lo[feature], hi[feature] = -1e308, 1e308  # max - min overflows to inf
    arrays = dict(model_arrays, **{"scaler.min": lo, "scaler.max": hi})
    path = write_zip(tmp_path / "scale.npz", as_members(arrays))
    predict_error(path, data_file, "bad scaler parameters",
                  f"for feature {feature}, the range max - min (inf) overflows float64")


def test_a_constant_feature_in_the_scaler_is_still_accepted(tmp_path, model_arrays, data_file):
    # training rows where a score never varies give max == min: a real model, scaled by 1
    arrays = dict(model_arrays, **{"scaler.max": model_arrays["scaler.min"].copy()})
    path = write_zip(tmp_path / "constant.npz", as_members(arrays))
    status, _, err = run_strict(["predict", "--model", str(path), str(data_file)])
    assert status == 0, err


# ---- 4. the output is CSV ------------------------------------------------------------------------


def test_predict_output_is_valid_csv(tmp_path, model_arrays):
    ids = ["12,3", 'say "hi"', "two\nlines", "plain", "a;b", "car\rriage", "crlf\r\nid"]
    data = tmp_path / "odd-ids.data"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
        for i, ident in enumerate(ids):
            writer.writerow([ident, *([1 + i % 10] * 9), 2 if i % 2 else 4])
    path = write_zip(tmp_path / "ok.npz", as_members(model_arrays))
    status, out, err = run_strict(["predict", "--model", str(path), str(data)])
    assert status == 0, err
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0] == ["id", "class", "p_malignant"]
    assert [r[0] for r in rows[1:]] == [escape(i) for i in ids]  # line breaks as \\n, \\r
    assert rows[3][0] == "two\\nlines" and rows[7][0] == "crlf\\r\\nid"
    assert all(len(r) == 3 and r[1] in ("benign", "malignant") for r in rows[1:])
    proba = load_model(path).predict_proba(load_wisconsin(data).X)
    assert [r[2] for r in rows[1:]] == [f"{p:.6f}" for p in proba]
    assert out.endswith("\n") and "\r" not in out and out.count("\n") == len(ids) + 1


def test_plain_ids_are_written_unquoted(tmp_path, model_arrays, data_file):
    path = write_zip(tmp_path / "ok.npz", as_members(model_arrays))
    status, out, _ = run_strict(["predict", "--model", str(path), str(data_file)])
    assert status == 0
    assert out.splitlines()[0] == "id,class,p_malignant" and out.splitlines()[1].startswith("1,")
    assert '"' not in out


def test_rows_without_a_class_are_classified_and_left_out_of_the_accuracy(tmp_path, model_arrays):
    path = write_zip(tmp_path / "ok.npz", as_members(model_arrays))
    labelled = tmp_path / "labelled.data"
    labelled.write_text(ROWS)
    status, out_all, err = run_strict(["predict", "--model", str(path), str(labelled)])
    assert status == 0 and "/4 rows)" in err
    lines = ROWS.splitlines()
    # row 2 leaves its class out, row 3 writes it as '?'
    mixed = tmp_path / "mixed.data"
    mixed.write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0], lines[2].rsplit(",", 1)[0] + ",?",
                                lines[3]]) + "\n")
    status, out, err = run_strict(["predict", "--model", str(path), str(mixed)])
    assert status == 0, err
    assert out == out_all  # the same predictions, class or not
    predicted = [r[1] for r in csv.reader(io.StringIO(out))][1:]
    truth = ["benign", None, None, "malignant"]
    correct = sum(p == t for p, t in zip(predicted, truth) if t is not None)
    expected = f"accuracy against the classes in {mixed}: {correct / 2:.4f} ({correct}/2 rows; 2 rows without"
    assert expected in err
    unlabelled = tmp_path / "new.data"
    unlabelled.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    status, out, err = run_strict(["predict", "--model", str(path), str(unlabelled)])
    assert status == 0 and out == out_all and "accuracy" not in err


def test_a_pipe_or_device_as_model_is_refused_without_opening_it(tmp_path, data_file):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    for model in (fifo, "/dev/zero"):
        one_line_error(*run_cli(["predict", "--model", str(model), str(data_file)]),
                       f"{model}: not a microgrid model file (a device or pipe, not a file)")


def test_predict_o_replaces_only_earlier_predictions(tmp_path, model_arrays, data_file):
    model = write_zip(tmp_path / "ok.npz", as_members(model_arrays))
    base = ["predict", "--model", str(model), str(data_file)]
    _, expected, _ = run_strict(base)  # what -o must hold
    target = tmp_path / "out.csv"
    status, out, err = run_strict([*base, "-o", str(target)])
    assert status == 0 and out == f"wrote {target} ({expected.count(chr(10)) - 1} rows)\n", err
    assert target.read_text() == expected
    assert run_strict([*base, "-o", str(target)])[0] == 0  # its own predictions: replaced
    mine = tmp_path / "mine.csv"
    mine.write_text("precious\n")
    one_line_error(*run_cli([*base, "-o", str(mine)]), "exists and was not written by microgrid",
                   "--force")
    assert mine.read_text() == "precious\n"
    assert run_strict([*base, "-o", str(mine), "--force"])[0] == 0 and mine.read_text() == expected
    for source in (data_file, model):  # never the file being read, even with --force
        before = source.read_bytes()
        one_line_error(*run_cli([*base, "-o", str(source), "--force"]), "is the file being read")
        assert source.read_bytes() == before
    one_line_error(*run_cli([*base, "-o", str(tmp_path / "no" / "out.csv")]),
                   f"the folder {tmp_path / 'no'} does not exist")
    assert not (tmp_path / "no").exists()


def test_train_out_does_not_grow_a_tree_of_folders(tmp_path):
    one_line_error(*run_cli(["train", "--iters", "2", "--quiet", "--out", str(tmp_path / "a" / "b" / "run")]),
                   f"the folder {tmp_path / 'a' / 'b'} does not exist")
    assert not (tmp_path / "a").exists()
    assert run_cli(["train", "--iters", "2", "--quiet", "--out", str(tmp_path / "run")])[0] == 0
