"""``microgrid predict`` and model files: crafted archives, overflowing models, CSV output."""

import csv
import io
import os
import subprocess
import sys
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from microgrid.app import model_io
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


# ---- 4. limits and thresholds, on both sides of their line ----------------------------------------


def compressed_zeros_npz(path, arrays, key, shape):
    """A model file whose ``key`` is a float64 array of ``shape``, all zeros, deflated (a few kB per
    10 MB), written a MB at a time: a small file declaring a large array."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, value in arrays.items():
            if name != key:
                zf.writestr(f"{name}.npy", npy_bytes(value))
        with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                          "shape": shape})
            left = 8 * int(np.prod(shape))
            while left:
                member.write(bytes(min(left, 1 << 20)))
                left -= min(left, 1 << 20)
    return path


def declared_bytes(path):
    with zipfile.ZipFile(path) as zf:
        return sum(info.file_size for info in zf.infolist())


def test_a_small_file_declaring_huge_arrays_is_refused_before_decompressing(tmp_path, model_arrays,
                                                                            data_file):
    # 9-1,000,000-1: W1 alone is 72 MB of zeros in a file of about 100 kB
    hidden = 1_000_000
    arrays = dict(model_arrays, dims=np.array([9, hidden, 1]), activations=np.array(["relu", "sigmoid"]),
                  b1=np.zeros(hidden), W2=np.zeros((1, hidden)))
    path = compressed_zeros_npz(tmp_path / "bomb.npz", arrays, "W1", (hidden, 9))
    assert path.stat().st_size < 1e6 < 80e6 < declared_bytes(path)
    tracemalloc.start()
    try:
        status, out, err = run_strict(["predict", "--model", str(path), "--memory-budget", "50M",
                                       str(data_file)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_line_error(status, out, err, f"{path}: its arrays take 88 MB uncompressed, more than the budget of "
                                     "50 MB: raise --memory-budget")
    assert peak < 20e6  # nothing of W1 was decompressed
    with pytest.raises(ModelFileError, match="take 88 MB uncompressed, more than the budget of 50 MB"):
        load_model(path, memory_budget=50e6)
    monkeypatch = pytest.MonkeyPatch()
    with monkeypatch.context() as patch:  # the Python API's own limit, without a budget
        patch.setattr(model_io, "MAX_MODEL_BYTES", 50e6)
        with pytest.raises(ModelFileError, match="more than the limit of 50 MB for a model file"):
            load_model(path)


def test_the_size_limits_hold_at_the_declared_total(tmp_path, model_arrays, data_file, monkeypatch):
    path = write_zip(tmp_path / "ok.npz", as_members(model_arrays))
    total = declared_bytes(path)
    assert load_model(path, memory_budget=total).n_features == 9
    with pytest.raises(ModelFileError, match="more than the budget of"):
        load_model(path, memory_budget=total - 1)
    monkeypatch.setattr(model_io, "MAX_MODEL_BYTES", total)
    assert load_model(path).n_features == 9
    monkeypatch.setattr(model_io, "MAX_MODEL_BYTES", total - 1)
    with pytest.raises(ModelFileError, match="more than the limit of"):
        load_model(path)


@pytest.mark.parametrize("threshold, ok", [(0.0, False), (5e-324, True), (0.5, True),
                                           (np.nextafter(1.0, 0.0), True), (1.0, False), (np.nan, False),
                                           (-0.0, False), (np.inf, False)])
def test_the_threshold_is_a_probability_strictly_between_0_and_1(tmp_path, model_arrays, data_file,
                                                                   threshold, ok):
    path = write_zip(tmp_path / "t.npz", as_members(dict(model_arrays, threshold=np.array(threshold))))
    if ok:
        assert load_model(path).threshold == threshold
        assert run_strict(["predict", "--model", str(path), str(data_file)])[0] == 0
    else:
        predict_error(path, data_file, "is not a probability strictly between 0 and 1")


@pytest.mark.parametrize("extra", [1, 8, 1000])
def test_bytes_after_an_array_are_refused(tmp_path, model_arrays, data_file, extra):
    members = {**as_members(model_arrays), "W1.npy": npy_bytes(model_arrays["W1"]) + bytes(extra)}
    predict_error(write_zip(tmp_path / "tail.npz", members), data_file, "'W1'",
                  f"declares 288 bytes of data but holds {288 + extra}")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fill_values_must_be_finite(tmp_path, model_arrays, data_file, bad):
    fill = model_arrays["fill_values"].copy()
    fill[3] = bad
    path = write_zip(tmp_path / "fill.npz", as_members(dict(model_arrays, fill_values=fill)))
    predict_error(path, data_file, "fill_values must be finite numbers")


@pytest.mark.parametrize("dims", [[9, 0, 1], [9, -1, 1], [0, 4, 1], [9, 4, 0]])
def test_a_layer_without_neurons_is_refused(tmp_path, model_arrays, data_file, dims):
    # weights of the shapes those widths give, so that only the widths are wrong
    shapes = list(zip(dims[1:], dims[:-1]))
    arrays = dict(model_arrays, dims=np.array(dims))
    for i, (rows, cols) in enumerate(shapes, start=1):
        arrays[f"W{i}"], arrays[f"b{i}"] = np.zeros((max(rows, 0), max(cols, 0))), np.zeros(max(rows, 0))
    predict_error(write_zip(tmp_path / "zero.npz", as_members(arrays)), data_file,
                  f"bad architecture: dims {dims} (need >= 2 positive widths)")


def test_a_layer_of_one_neuron_is_a_model(tmp_path, model_arrays, data_file):
    arrays = dict(model_arrays, dims=np.array([9, 1, 1]), W1=np.ones((1, 9)), b1=np.zeros(1),
                  W2=np.ones((1, 1)), b2=np.zeros(1))
    path = write_zip(tmp_path / "one.npz", as_members(arrays))
    assert load_model(path).net.dims == [9, 1, 1]
    assert run_strict(["predict", "--model", str(path), str(data_file)])[0] == 0


def without(arrays, *keys):
    return {k: v for k, v in arrays.items() if k not in keys}


# (what changes in the small model's arrays, what the refusal says); the model itself loads (above)
REFUSALS = {
    "format a number": (lambda a: dict(a, format=np.array(3)), "entry 'format' should be a text"),
    "another format": (lambda a: dict(a, format=np.array("other")), "not a microgrid model file (format 'o"),
    "no format": (lambda a: without(a, "format"), "not a microgrid model file (no 'format' entry"),
    "version a float": (lambda a: dict(a, format_version=np.array(1.0)), "'format_version' should be a num"),
    "version 2": (lambda a: dict(a, format_version=np.array(2)), "unsupported model format version 2"),
    "no dims": (lambda a: without(a, "dims"), "incomplete model file: missing dims"),
    "dims floats": (lambda a: dict(a, dims=np.array([9.0, 4.0, 1.0])), "'dims' should be a list of integers"),
    "dims 2-D": (lambda a: dict(a, dims=np.array([[9, 4, 1]])), "'dims' should be a list of integers"),
    "one width": (lambda a: dict(a, dims=np.array([9])), "dims [9] (need >= 2 positive widths)"),
    "two outputs": (lambda a: dict(a, dims=np.array([9, 4, 2]), W2=np.zeros((2, 4)), b2=np.zeros(2)),
                    "architecture [9, 4, 2] has 2 outputs; a binary classifier has 1"),
    "one activation": (lambda a: dict(a, activations=np.array(["sigmoid"])), "1 activations for 2 layers"),
    "no W2": (lambda a: without(a, "W2"), "missing W2 for architecture [9, 4, 1]"),
    "W1 of integers": (lambda a: dict(a, W1=np.ones((4, 9), dtype=np.int64)),
                       "W1 has shape (4, 9) (int64); architecture [9, 4, 1] needs float (4, 9)"),
    "b1 too long": (lambda a: dict(a, b1=np.zeros(5)), "b1 has shape (5,) (float64)"),
    "NaN weight": (lambda a: dict(a, W2=np.array([[0.0, np.nan, 0.0, 0.0]])), "W2 contains NaN or infinite"),
    "infinite bias": (lambda a: dict(a, b1=np.array([0.0, 0.0, np.inf, 0.0])), "b1 contains NaN or infinite"),
    "a third layer's weights": (lambda a: dict(a, W3=np.zeros((1, 1))), "unknown entry 'W3'"),
    "8 feature names": (lambda a: dict(a, feature_names=a["feature_names"][:8]),
                        "8 feature names for 9 inputs, 2 class names for 2 classes"),
    "3 class names": (lambda a: dict(a, target_names=np.array(["a", "b", "c"])), "3 class names for 2"),
    "unknown scaler": (lambda a: dict(a, scaler=np.array("robust")), "unknown scaler 'robust'"),
    "scaler of 8": (lambda a: dict(a, **{"scaler.min": np.zeros(8)}),
                    "scaler parameters have shape (8,); the net has 9 inputs"),
    "scaler of texts": (lambda a: dict(a, **{"scaler.min": np.array(["0"] * 9)}),
                        "scaler parameters must be numbers, found <U1"),
    "scaler without max": (lambda a: without(a, "scaler.max"), "bad scaler parameters: MinMaxScaler: missin"),
    "max below min": (lambda a: dict(a, **{"scaler.max": a["scaler.min"] - 1}), "max is below min"),
    "a standard parameter": (lambda a: dict(a, **{"scaler.mean": np.zeros(9)}), "unknown entry 'scaler.mea"),
    "fill_values of 10": (lambda a: dict(a, fill_values=np.ones(10)), "fill_values have shape (10,)"),
    "threshold a text": (lambda a: dict(a, threshold=np.array("0.5")), "'threshold' should be a number"),
    "threshold a list": (lambda a: dict(a, threshold=np.array([0.5])), "'threshold' should be a number"),
    "version a number": (lambda a: dict(a, microgrid_version=np.array(3)), "'microgrid_version' should be"),
}


@pytest.mark.parametrize("change", REFUSALS)
def test_each_refusal_names_its_entry(tmp_path, model_arrays, data_file, change):
    make, needle = REFUSALS[change]
    predict_error(write_zip(tmp_path / "bad.npz", as_members(make(model_arrays))), data_file, needle)


# ---- 5. the output is CSV ------------------------------------------------------------------------


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


def test_a_probability_at_the_threshold_is_the_second_class(tmp_path, model_arrays, data_file):
    flat = dict(model_arrays, W2=np.zeros_like(model_arrays["W2"]), b2=np.zeros(1))  # every output 0.5
    path = write_zip(tmp_path / "flat.npz", as_members(flat))
    status, out, err = run_strict(["predict", "--model", str(path), str(data_file)])
    assert status == 0, err
    rows = list(csv.reader(io.StringIO(out)))[1:]
    assert {(r[1], r[2]) for r in rows} == {("malignant", "0.500000")}
