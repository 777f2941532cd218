"""The shipped Wisconsin data and its loader: counts, rows, checksum, both formats, bad files."""

import hashlib
import io
import os
import shutil

import numpy as np
import pytest
from hypothesis import given

import microgrid.data as datasets
from microgrid.data import DataError, fast, load_wisconsin

from strategies import WisconsinRecord, render_wisconsin, wisconsin_records

EXPECTED_SHA256 = "6ed32fbab327224ec749cacbc1e4750114aae622dc651d522043b6cf0d735b7e"
FIRST = ("1000025", [5, 1, 1, 1, 2, 1, 3, 1, 1], 0)  # line 2 of biopsy.csv
LAST = ("897471", [4, 8, 8, 5, 4, 5, 10, 4, 1], 1)  # line 700
# the 16 rows without a "bare nuclei" score (1-based row numbers of the file)
MISSING_ROWS = [24, 41, 140, 146, 159, 165, 236, 250, 276, 293, 295, 298, 316, 322, 412, 618]


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


READERS = ["fast", "csv"]


def outcome(reader, *args, **kwargs):
    """What ``load_with`` gives: the Dataset, or the DataError's message."""
    try:
        return load_with(reader, *args, **kwargs)
    except DataError as exc:
        return str(exc)


def load_with(reader, *args, **kwargs):
    """``load_wisconsin`` as it is (``"fast"``: a plain file is read by NumPy) or with the csv reader
    alone (``"csv"``)."""
    with pytest.MonkeyPatch.context() as patch:
        if reader == "csv":
            patch.setattr(fast, "parse_fast", lambda *args, **kwargs: None)
        return load_wisconsin(*args, **kwargs)


# ---- the shipped file ----------------------------------------------------------------------


def test_shipped_file_checksum():
    raw = datasets.shipped_path().read_bytes()
    assert hashlib.sha256(raw).hexdigest() == EXPECTED_SHA256 == datasets.SHIPPED_SHA256


def test_all_rows_and_classes():
    d = load_wisconsin(missing="keep")
    assert d.X.shape == (699, 9) and d.X.dtype == np.float64 and d.y.dtype == np.int64
    assert d.class_counts() == {"benign": 458, "malignant": 241}
    assert d.n_missing_rows == 16
    rows_with_nan = np.flatnonzero(np.isnan(d.X).any(axis=1)) + 1
    assert rows_with_nan.tolist() == MISSING_ROWS
    assert np.isnan(d.X).sum() == 16 and np.isnan(d.X[:, 5]).sum() == 16  # all in "bare nuclei"
    assert d.lines[0] == 2 and d.lines[-1] == 700


def test_complete_rows_default():
    d = load_wisconsin()
    assert len(d) == 683 and d.X.shape == (683, 9)
    assert d.class_counts() == {"benign": 444, "malignant": 239}
    assert not np.isnan(d.X).any()
    assert set(np.unique(d.X)) == set(range(1, 11))
    for (ident, scores, label), i in ((FIRST, 0), (LAST, -1)):
        assert d.ids[i] == ident and d.X[i].tolist() == scores and d.y[i] == label
    assert d.feature_names[0] == "clump thickness" and d.feature_names[-1] == "mitoses"
    assert d.target_names == ("benign", "malignant")
    assert "Wolberg" in d.description and d.format == "csv"


def test_median_imputation_uses_the_column_median_of_the_given_rows():
    keep = load_wisconsin(missing="keep")
    filled = load_wisconsin(missing="median")
    assert filled.X.shape == (699, 9) and not np.isnan(filled.X).any()
    holes = np.isnan(keep.X)
    median = np.median(keep.X[~holes[:, 5], 5])
    assert median == 1.0  # most bare-nuclei scores are 1
    assert (filled.X[holes] == median).all()
    assert np.array_equal(filled.X[~holes], keep.X[~holes])


@pytest.mark.parametrize("fmt", ["csv", "uci"])
@given(records=wisconsin_records(min_size=2))
def test_median_imputation_is_numpys_median_of_the_known_scores(tmp_path_factory, fmt, records):
    path = tmp_path_factory.mktemp("median") / "data.txt"
    path.write_text(render_wisconsin(records, fmt))
    kept, filled = load_wisconsin(path, missing="keep"), None
    if np.isnan(kept.X).all(axis=0).any():
        with pytest.raises(DataError, match="has no values to take a median of"):
            load_wisconsin(path, missing="median")
        return
    filled = load_wisconsin(path, missing="median")
    holes = np.isnan(kept.X)
    np.testing.assert_array_equal(filled.X[~holes], kept.X[~holes])
    np.testing.assert_array_equal(filled.X, np.where(holes, np.nanmedian(kept.X, axis=0), kept.X))


def test_bad_missing_mode():
    with pytest.raises(ValueError, match="missing must be one of drop, median, keep"):
        load_wisconsin(missing="zero")


def test_altered_shipped_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "biopsy.csv"
    shutil.copy(datasets.shipped_path(), copy)
    monkeypatch.setattr(datasets, "shipped_path", lambda: copy)
    assert len(load_wisconsin()) == 683  # an identical copy passes the check
    copy.write_text(copy.read_text().replace('"1000025",5,1,1', '"1000025",6,1,1'))
    with pytest.raises(DataError, match="altered.*sha256"):
        load_wisconsin()


# ---- the UCI format and hypothesis round trips ---------------------------------------------


def test_shipped_rows_read_identically_from_uci_format(tmp_path):
    d = load_wisconsin(missing="keep")
    records = [WisconsinRecord(i, tuple(None if np.isnan(s) else int(s) for s in x), bool(c))
               for i, x, c in zip(d.ids, d.X, d.y)]
    text = render_wisconsin(records, "uci")
    assert text.splitlines()[0] == "1000025,5,1,1,1,2,1,3,1,1,2"
    assert text.splitlines()[23] == "1057013,8,4,5,1,2,?,7,3,1,4"  # row 24 of the UCI file
    uci = load_wisconsin(write(tmp_path, text, "breast-cancer-wisconsin.data"), missing="keep")
    assert uci.format == "uci"
    np.testing.assert_array_equal(uci.X, d.X)
    np.testing.assert_array_equal(uci.y, d.y)
    np.testing.assert_array_equal(uci.ids, d.ids)
    assert len(load_wisconsin(uci.source)) == 683


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("fmt", ["csv", "uci"])
@given(records=wisconsin_records())
def test_generated_files_round_trip(tmp_path_factory, reader, fmt, records):
    path = tmp_path_factory.mktemp("rt") / "data.txt"
    path.write_text(render_wisconsin(records, fmt))
    d = load_with(reader, path, missing="keep")
    assert d.format == fmt
    expected = np.array([[np.nan if s is None else s for s in r.scores] for r in records])
    np.testing.assert_array_equal(d.X, expected)
    assert d.y.tolist() == [int(r.malignant) for r in records]
    assert d.ids.tolist() == [r.id for r in records]
    complete = [i for i, r in enumerate(records) if None not in r.scores]
    dropped = load_with(reader, path)
    np.testing.assert_array_equal(dropped.X, expected[complete].reshape(-1, 9))
    assert dropped.ids.tolist() == [records[i].id for i in complete]


def test_windows_line_endings_and_blank_lines(tmp_path):
    rows = [WisconsinRecord("7", (1,) * 9, False), WisconsinRecord("8", (10,) * 9, True)]
    text = render_wisconsin(rows, "uci").replace("\n", "\r\n") + "\r\n\r\n"
    d = load_wisconsin(write(tmp_path, text))
    assert d.y.tolist() == [0, 1] and d.X[1].tolist() == [10.0] * 9


# ---- malformed files -----------------------------------------------------------------------

GOOD_UCI = render_wisconsin([WisconsinRecord("77", (1,) * 9, False)] * 3, "uci")
GOOD_CSV = render_wisconsin([WisconsinRecord("77", (1,) * 9, True)] * 3, "csv")


def break_line(text, line, old, new):
    lines = text.splitlines()
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "base, line, old, new, problem",
    [
        (GOOD_UCI, 2, ",2", "", "expected 11 comma-separated columns .* found 10"),
        (GOOD_UCI, 3, "1,1,1", "1,1,1,1", "expected 11 comma-separated columns .* found 12"),
        (GOOD_CSV, 3, '"2",', "", "expected 12 comma-separated columns .* found 11"),
        (GOOD_UCI, 2, "1,1,1", "1,x,1", r"score 2 \(uniformity of cell size\) is not a number: 'x'"),
        (GOOD_CSV, 4, "1,1,1", "1,NaN,1", r"score \d .* is not a number: 'NaN'"),
        (GOOD_UCI, 2, "1,1,1", "1,1_0,1", r"score 2 .* is not a number: '1_0'"),
        (GOOD_UCI, 2, "1,1,1", "1,1e1,1", r"score 2 .* is not a number: '1e1'"),
        (GOOD_CSV, 2, "1,1,1", "1,inf,1", r"score \d .* is not a number: 'inf'"),
        (GOOD_UCI, 1, "1,1,1", "1,1,0", r"score 3 \(uniformity of cell shape\) is .0.: scores are whole"),
        (GOOD_CSV, 2, "1,1,1", "1,11,1", r"score \d .* is '11': scores are whole numbers"),
        (GOOD_UCI, 3, "1,1,1", "1,2.5,1", r"score 2 .* is '2.5': scores are whole numbers"),
        (GOOD_UCI, 1, "1,2", "1,3", r"unknown class '3': expected '2' or '4'"),
        (GOOD_CSV, 3, '"malignant"', '"cancer"', r"unknown class 'cancer': expected 'benign' or 'malignant'"),
        (GOOD_CSV, 2, ",1,1", ",?,1", r"score 1 \(clump thickness\) is not a number: '\?' \(.* .NA."),
        (GOOD_CSV, 1, '"ID"', '"Code"', "unrecognised header"),
    ],
)
def test_malformed_file_names_file_line_and_problem(tmp_path, base, line, old, new, problem):
    path = write(tmp_path, break_line(base, line, old, new), "broken.data")
    with pytest.raises(DataError, match=rf"broken\.data, line {line}: {problem}") as info:
        load_wisconsin(path)
    assert isinstance(info.value, ValueError) and info.value.line == line


def test_uci_row_in_csv_file_gets_a_hint(tmp_path):
    text = GOOD_CSV.split("\n", 1)[1]  # shipped rows without their header
    with pytest.raises(DataError, match="line 1: expected 11 .* found 12 .*starts with its header"):
        load_wisconsin(write(tmp_path, text))


@pytest.mark.parametrize(
    "content, problem",
    [(b"", "the file has no rows"), (b"\n\n", "the file has no rows"),
     (GOOD_CSV.split("\n")[0].encode() + b"\n", "the file has a header but no rows"),
     (b"\x89PNG\r\n\x1a\n\x00\xff", "not a text file")],
)
def test_empty_and_binary_files(tmp_path, content, problem):
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"odd\.csv: {problem}"):
        load_wisconsin(path)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_wisconsin(tmp_path / "nope.csv")


# ---- files that are not data files --------------------------------------------------------------


def test_a_pipe_or_device_is_refused_without_reading_it(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    with pytest.raises(DataError, match="fifo: not a regular file"):
        load_wisconsin(fifo)
    with pytest.raises(DataError, match="/dev/zero: not a regular file"):
        load_wisconsin("/dev/zero")  # endless: reading it would exhaust memory


@pytest.mark.parametrize("reader", READERS)
def test_a_file_over_the_size_limit_is_refused(tmp_path, monkeypatch, reader):
    path = write(tmp_path, GOOD_UCI)
    monkeypatch.setattr(datasets, "MAX_FILE_BYTES", len(GOOD_UCI) - 1)
    with pytest.raises(DataError, match="larger than"):
        load_with(reader, path)
    monkeypatch.setattr(datasets, "MAX_FILE_BYTES", len(GOOD_UCI))
    assert len(load_with(reader, path)) == 3
    with open(path, "rb") as f:  # the fast reader's own limit: the same line
        assert fast.parse_fast(f, "x", False, True, len(GOOD_UCI)) is not None
        f.seek(0)
        assert fast.parse_fast(f, "x", False, True, len(GOOD_UCI) - 1) is None


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes(GOOD_CSV.encode("utf-16-le"))
    with pytest.raises(DataError, match="not a text file: it contains NUL bytes .UTF-16"):
        load_wisconsin(path)


@pytest.mark.parametrize("line, old, new, problem", [
    (2, '"77",', '"77,', "',' expected after '\"'"),  # a quote closed in the middle of a field
    (3, '"malignant"', '"malignant', "unexpected end of data"),  # a quote never closed
    (2, '"77"', '"' + "7" * 200_000 + '"', "field larger than field limit"),
])
def test_bad_quoting_is_an_error_at_the_record_where_it_starts(tmp_path, line, old, new, problem):
    path = write(tmp_path, break_line(GOOD_CSV, line + 1, old, new), "quotes.csv")  # +1: the header
    with pytest.raises(DataError, match=rf"quotes\.csv, line {line + 1}: not valid comma-separated text: "
                                        rf"{problem}") as info:
        load_wisconsin(path)
    assert info.value.line == line + 1


# ---- rows without a class (samples to classify) -------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("fmt", ["csv", "uci"])
def test_unlabelled_rows_load_with_y_minus_one_only_when_asked(tmp_path, reader, fmt):
    dataset = load_wisconsin()
    text = render_wisconsin([WisconsinRecord(dataset.ids[i], tuple(int(s) for s in dataset.X[i]),
                                             bool(dataset.y[i])) for i in range(4)], fmt)
    lines = text.splitlines()
    if fmt == "csv":  # a header without the class column is fine too once rows may lack it
        text_without_column = "\n".join(line.rsplit(",", 1)[0] for line in lines)
        loaded = load_with(reader, write(tmp_path, text_without_column + "\n", "nocol.csv"), unlabelled=True)
        assert loaded.y.tolist() == [-1] * 4 and not loaded.labelled.any()
        np.testing.assert_array_equal(loaded.X, dataset.X[:4])
    first, rest = (lines[:1], lines[1:]) if fmt == "csv" else ([], lines)
    token = "NA" if fmt == "csv" else "?"
    rest[1] = rest[1].rsplit(",", 1)[0]  # the class column left out
    rest[2] = rest[2].rsplit(",", 1)[0] + "," + token  # the class written as missing
    path = write(tmp_path, "\n".join(first + rest) + "\n", "new." + fmt)
    loaded = load_with(reader, path, unlabelled=True)
    assert loaded.y.tolist() == [dataset.y[0], -1, -1, dataset.y[3]]
    assert loaded.labelled.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(loaded.X, dataset.X[:4])
    assert sum(loaded.class_counts().values()) == 2
    line = 3 if fmt == "csv" else 2
    with pytest.raises(DataError, match=rf"new\.{fmt}, line {line}: expected"):
        load_with(reader, path)  # by default every row needs its class


# ---- large files: the NumPy fast path reads what the csv reader reads --------------------------


# What a line of a real file may hold besides plain rows (each is read by the csv reader)
ODDITIES = {"blank": "", "white space": "   ", "commas only": ",,,,,,,,,,,", "padded score": " 5",
            "decimal score": "5.0", "quoted score": '"5"', "score 100": "100", "ID of 70": "x" * 70,
            "padded ID": " 77 ", "ID after a space": " 77", "ID before a space": "77 ",
            "ID of three quotes": '"a"b"', "ID one too long": ""}


def _rows_file(path, n_rows: int, seed: int, crlf: bool, quoted: bool, oddity: str | None) -> None:
    """UCI (or, ``quoted``, shipped-CSV) rows drawn from the shipped data, with missing scores,
    empty IDs and IDs as long as the fast reader takes, and about one line in twenty holding ``oddity``."""
    from microgrid.data.fast import ID_WIDTH

    longest = ID_WIDTH - 1 - 2 * quoted  # the cell's last byte must stay empty
    rng = np.random.default_rng(seed)
    data = load_wisconsin(missing="keep")
    token = "NA" if quoted else "?"
    out = ['"","ID","V1","V2","V3","V4","V5","V6","V7","V8","V9","class"'] if quoted else []
    for i in range(n_rows):
        r = int(rng.integers(len(data.y)))
        scores = [token if np.isnan(v) else str(int(v)) for v in data.X[r]]
        ident = ["", "z" * longest, str(data.ids[r])][min(int(rng.integers(20)), 2)]
        if oddity is not None and rng.integers(20) == 0:
            if "ID" in oddity:
                ident = ODDITIES[oddity] or "y" * (longest + 1)
            elif "score" in oddity:
                scores[int(rng.integers(9))] = ODDITIES[oddity]
            else:
                out.append(ODDITIES[oddity])
        label = ("malignant" if data.y[r] else "benign") if quoted else str(2 + 2 * int(data.y[r]))
        if quoted:
            out.append(",".join([f'"{i + 1}"', f'"{ident}"', *scores, f'"{label}"']))
        else:
            out.append(",".join([ident, *scores, label]))
    path.write_bytes(("\r\n" if crlf else "\n").join(out).encode() + b"\n")


@pytest.mark.parametrize("crlf, quoted", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("oddity", [None, *ODDITIES])
def test_fast_reader_equals_the_csv_reader(tmp_path, monkeypatch, crlf, quoted, oddity):
    path = tmp_path / "rows.csv"
    _rows_file(path, 1_000, seed=int(crlf) + 2 * int(quoted), crlf=crlf, quoted=quoted, oddity=oddity)
    monkeypatch.setattr(fast, "BLOCK_CHARS", 997)  # many blocks, cut at odd places
    with open(path, "rb") as f:  # a plain file is read by the fast path
        assert (fast.parse_fast(f, str(path), False, False, 10**9) is not None) == (oddity is None)
    for missing in ("drop", "median", "keep"):
        data, want = (outcome(reader, path, missing=missing) for reader in READERS)
        if isinstance(want, str):  # the csv reader's refusal, word for word
            assert data == want
            continue
        np.testing.assert_array_equal(data.X, want.X)
        for a in ("y", "ids", "lines"):
            np.testing.assert_array_equal(getattr(data, a), getattr(want, a))
            assert getattr(data, a).dtype == getattr(want, a).dtype
        assert (data.format, data.n_missing_rows) == (want.format, want.n_missing_rows)


PLAIN = {  # files the fast reader reads itself, each on a line it must not cross
    "no newline at the end": (GOOD_UCI.rstrip("\n"), False),
    "one row without a newline": (GOOD_UCI.split("\n")[0], False),
    "an empty class to classify": (GOOD_UCI + "77,1,1,1,1,1,1,1,1,1,\n", True),
    "a '?' class to classify": (GOOD_UCI + "77,1,1,1,1,1,1,1,1,1,?\n", True),
    "no class column (UCI)": ("".join(row.rsplit(",", 1)[0] + "\n" for row in GOOD_UCI.splitlines()), True),
    "no class column (CSV)": ("".join(row.rsplit(",", 1)[0] + "\r\n" for row in GOOD_CSV.splitlines()), True),
    "quoted cells": (GOOD_CSV, False),
}


@pytest.mark.parametrize("name", PLAIN)
def test_plain_files_are_read_by_the_fast_path(tmp_path, name):
    text, unlabelled = PLAIN[name]
    path = write(tmp_path, text)
    with open(path, "rb") as f:
        assert fast.parse_fast(f, str(path), unlabelled, False, 10**9) is not None
    data, want = (load_with(reader, path, missing="keep", unlabelled=unlabelled) for reader in READERS)
    for a in ("X", "y", "ids", "lines"):
        np.testing.assert_array_equal(getattr(data, a), getattr(want, a))
    assert len(data) == text.count("\n") + (not text.endswith("\n")) - (data.format == "csv")


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("fmt, row, missing", [("uci", "77,1,1,1,1,1,1,1,1,1,?", "'?'"),
                                               ("uci", "77,1,1,1,1,1,1,1,1,1,", "''"),
                                               ("csv", '"4","77",1,1,1,1,1,1,1,1,1,NA', "'NA'"),
                                               ("csv", '"4","77",1,1,1,1,1,1,1,1,1,', "''")])
def test_a_row_without_its_class_says_training_needs_one(tmp_path, reader, fmt, row, missing):
    text = (GOOD_UCI if fmt == "uci" else GOOD_CSV) + row + "\n"
    path = tmp_path / "rows.data"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_with(reader, path)
    line = text.count("\n")
    assert f"line {line}: the class is missing ({missing}): training needs the class" in str(info.value)
    unlabelled = load_with(reader, path, unlabelled=True)
    assert unlabelled.y.tolist() == [int(fmt == "csv")] * 3 + [-1]  # GOOD_CSV's rows are malignant
    assert unlabelled.X[-1].tolist() == [1.0] * 9 and unlabelled.ids[-1] == "77"
    path.write_text(text.replace(row, row.rsplit(",", 2)[0]))  # two columns short
    with pytest.raises(DataError, match="columns .* or 1[01] without the class\\), found"):
        load_with(reader, path, unlabelled=True)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("crlf", [False, True])
def test_an_empty_last_cell_at_the_end_of_the_file(tmp_path, reader, crlf):
    end = "\r\n" if crlf else "\n"
    path = tmp_path / "new.data"
    path.write_bytes((GOOD_UCI + "1,1,1,1,1,1,1,1,1,1,").replace("\n", end).encode())  # no class: -1
    data = load_with(reader, path, unlabelled=True)
    assert data.X[-1].tolist() == [1.0] * 9 and data.y.tolist() == [0, 0, 0, -1]
    path.write_bytes((GOOD_UCI + "1,1,1,1,1,1,1,1,1,").replace("\n", end).encode())  # an empty score
    with pytest.raises(DataError) as info:
        load_with(reader, path, unlabelled=True)
    assert str(info.value) == f"{path}, line 4: score 9 (mitoses) is not a number: '' (a missing score is " \
                              "written '?' in this format)"


def test_text_in_another_encoding_is_named_by_its_line(tmp_path):
    path = tmp_path / "latin1.data"
    path.write_bytes(GOOD_UCI.encode() + "Müller,1,1,1,1,1,1,1,1,1,2\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        load_wisconsin(path)
    assert info.value.line == 4
    assert str(info.value) == (f"{path}, line 4: byte 0xfc is not UTF-8 (text saved in another encoding? "
                               "save the file as UTF-8)")


def test_a_file_that_grows_while_read_goes_to_the_csv_reader(tmp_path):
    class Growing(io.BytesIO):  # two lines more each time it is read again from the start
        def seek(self, offset, whence=0):
            if offset == 0 and whence == 0:
                self.write(b"1000025,5,1,1,1,2,1,3,1,1,2\n" * 2)
            return super().seek(offset, whence)

    assert fast.parse_fast(Growing(GOOD_UCI.encode()), "grows", False, True, 10**9) is None
    parsed = fast.parse_fast(io.BytesIO(GOOD_UCI.encode()), "still", False, True, 10**9)
    assert parsed is not None and len(parsed[1]) == GOOD_UCI.count("\n")


@pytest.mark.parametrize("bad, problem", [
    ("1,5,1,1,1,2,1,3,1,11,2", "score 9 (mitoses) is '11'"),
    ("1,5,1,1,1,2,1,3,1,1,3", "unknown class '3'"),
    ("1,5,1,1,1,2,1,3,1,1", "expected 11 comma-separated columns"),
    ('1,5,1,1,1,2,1,3,1,1,"2', None),  # an unclosed quote: the whole file goes to the csv reader
])
def test_an_error_deep_in_a_large_file_names_its_line(tmp_path, monkeypatch, bad, problem):
    good = "1000025,5,1,1,1,2,1,3,1,1,2\n"
    path = tmp_path / "deep.data"
    path.write_text(good * 5_000 + bad + "\n" + good * 10 + "1,5,1,1,1,2,1,3,1,99,2\n")
    monkeypatch.setattr(fast, "BLOCK_CHARS", 4096)
    with pytest.raises(DataError) as error:
        load_wisconsin(path)
    assert error.value.line == 5_001 and (problem is None or problem in str(error.value))


@pytest.mark.slow
def test_a_million_rows_load_to_the_shipped_rows_repeated(tmp_path):
    """1,000,000 rows (28 MB, the size the loader is measured on: benchmarks/bench_load.py)."""
    shipped = load_wisconsin(missing="keep")
    reps = -(-1_000_000 // len(shipped))
    label = np.where(shipped.y == 1, "4", "2")
    cells = [np.where(np.isnan(shipped.X[:, j]), "?", np.nan_to_num(shipped.X[:, j]).astype(int).astype(str))
             for j in range(9)]
    lines = [",".join(row) for row in zip(shipped.ids, *cells, label)]
    text = ("\n".join((lines * reps)[:1_000_000]) + "\n").encode()
    path = tmp_path / "million.data"
    path.write_bytes(text)
    assert 27e6 < len(text) < 30e6
    got = load_wisconsin(path, missing="keep")
    index = np.arange(1_000_000) % len(shipped)
    np.testing.assert_array_equal(got.X, shipped.X[index])
    np.testing.assert_array_equal(got.y, shipped.y[index])
    np.testing.assert_array_equal(got.ids, shipped.ids[index])
    np.testing.assert_array_equal(got.lines, np.arange(1, 1_000_001))
    assert got.n_missing_rows == int(np.isnan(shipped.X[index]).any(axis=1).sum())
