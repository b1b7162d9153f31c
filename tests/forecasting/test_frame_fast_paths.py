"""The pandas edge's fast paths give the same forecasts as the plain object-id path.

`forecast(df, ...)` groups rows by comparing adjacent ids (object pointers first, then
contents), categorical codes or pyarrow compares, and only falls back to factorize +
sort when rows are not grouped by series in date order. Every path must agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting import forecast
from forecasting.frame import to_flat

H = 5


def _panel(n_series: int = 6, n: int = 40, seed: int = 3, ragged: bool = False) -> pd.DataFrame:
    """Grouped, date-ordered long frame; ids in reverse value order; one str object per row."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=(7 * i if ragged else 0))
        length = n - (3 * i if ragged else 0)
        frames.append(pd.DataFrame({
            # "".join makes a distinct str object per row, like a frame built from numpy.
            "unique_id": ["".join(["sku", str(n_series - i)]) for _ in range(length)],
            "ds": pd.date_range(start, periods=length, freq="D"),
            "y": (rng.random(length) < 0.4) * rng.poisson(3.0, length).astype(float),
        }))
    return pd.concat(frames, ignore_index=True)


def _reference(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Forecasts of the plain object path on rows sorted by (unique_id, ds)."""
    plain = df.assign(unique_id=df["unique_id"].astype(str).astype(object))
    plain = plain.sort_values(["unique_id", "ds"], ignore_index=True)
    return forecast(plain, H, "D", model, quantiles=(0.5, 0.9))


def _assert_same(out: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(out.columns) == list(ref.columns)
    assert out["unique_id"].astype(str).tolist() == ref["unique_id"].astype(str).tolist()
    assert (out["ds"].to_numpy() == ref["ds"].to_numpy()).all()
    assert out["model"].tolist() == ref["model"].tolist()
    for col in ["mean", "q0.5", "q0.9"]:
        np.testing.assert_allclose(out[col].to_numpy(), ref[col].to_numpy(), rtol=0, atol=1e-12)


def _shared_objects(df: pd.DataFrame) -> pd.DataFrame:
    """Same ids, one str object per series (as read_csv / read_parquet give them)."""
    one = {v: v for v in pd.unique(df["unique_id"])}
    return df.assign(unique_id=np.array([one[v] for v in df["unique_id"]], dtype=object))


def _shuffled(df: pd.DataFrame) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=7).reset_index(drop=True)


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("model", ["ses", "tsb", "auto"])
@pytest.mark.parametrize("variant", ["distinct", "shared", "category", "category_unused",
                                     "string_pyarrow", "arrow_dtype", "string_python",
                                     "shuffled", "shuffled_category", "shuffled_pyarrow"])
def test_fast_paths_match_object_path(variant: str, model: str, ragged: bool) -> None:
    df = _panel(ragged=ragged)
    if variant == "shared":
        df = _shared_objects(df)
    elif variant == "category":
        df = df.assign(unique_id=df["unique_id"].astype("category"))
    elif variant == "category_unused":
        # Categories not in value order, with one nobody uses.
        cats = ["zzz", *sorted(pd.unique(df["unique_id"]), reverse=True)]
        df = df.assign(unique_id=pd.Categorical(df["unique_id"], categories=cats))
    elif variant == "string_pyarrow":
        pytest.importorskip("pyarrow")
        df = df.assign(unique_id=df["unique_id"].astype("string[pyarrow]"))
    elif variant == "arrow_dtype":
        pa = pytest.importorskip("pyarrow")
        df = df.assign(unique_id=df["unique_id"].astype(pd.ArrowDtype(pa.string())))
    elif variant == "string_python":
        df = df.assign(unique_id=df["unique_id"].astype(pd.StringDtype("python")))
    elif variant == "shuffled":
        df = _shuffled(df)
    elif variant == "shuffled_category":
        df = _shuffled(df.assign(unique_id=df["unique_id"].astype("category")))
    else:
        pytest.importorskip("pyarrow")
        df = _shuffled(df.assign(unique_id=df["unique_id"].astype("string[pyarrow]")))
    out = forecast(df, H, "D", model, quantiles=(0.5, 0.9))
    _assert_same(out, _reference(df, model))
    assert out["unique_id"].dtype == df["unique_id"].dtype  # the input's id dtype is kept


def test_categorical_output_is_categorical_with_the_input_categories() -> None:
    df = _panel()
    df["unique_id"] = df["unique_id"].astype("category")
    out = forecast(df, H, "D", "ses", quantiles=())
    assert isinstance(out["unique_id"].dtype, pd.CategoricalDtype)
    assert list(out["unique_id"].cat.categories) == list(df["unique_id"].cat.categories)


def test_grouped_runs_of_equal_but_distinct_objects_are_one_series() -> None:
    # Pointers differ on every row, contents only at the two series boundaries.
    df = _panel(n_series=3, ragged=True)
    ids = df["unique_id"].to_numpy()
    assert len({id(v) for v in ids}) == ids.size
    _, indptr, heads, _ = to_flat(df)
    assert list(heads) == ["sku1", "sku2", "sku3"]
    assert np.diff(indptr).tolist() == [34, 37, 40]


def test_same_object_never_hides_a_boundary_between_different_ids() -> None:
    # Shared objects: series boundaries are exactly where the pointer changes.
    df = _shared_objects(_panel(n_series=4, ragged=True))
    _, indptr, heads, _ = to_flat(df)
    assert list(heads) == ["sku1", "sku2", "sku3", "sku4"]
    assert np.diff(indptr).tolist() == [31, 34, 37, 40]


def test_series_split_in_two_runs_takes_the_general_path() -> None:
    df = _panel(n_series=3)
    first = df[df["unique_id"] == "sku3"]
    # sku3's first half, then the other series, then sku3's second half: dates still rise
    # inside every run, but sku3 is not grouped.
    mixed = pd.concat([first.iloc[:20], df[df["unique_id"] != "sku3"], first.iloc[20:]],
                      ignore_index=True)
    out = forecast(mixed, H, "D", "ses", quantiles=(0.5, 0.9))
    _assert_same(out, _reference(df, "ses"))


def test_numeric_ids_keep_their_dtype() -> None:
    df = _panel()
    df["unique_id"] = df["unique_id"].str[3:].astype(np.int64)
    out = forecast(df, H, "D", "ses", quantiles=())
    assert out["unique_id"].dtype == np.int64
    assert out["unique_id"].unique().tolist() == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("missing", [np.nan, None, pd.NA])
@pytest.mark.parametrize("shuffle", [False, True])
def test_missing_unique_id_is_rejected(missing: object, shuffle: bool) -> None:
    df = _panel(n_series=3)
    df["unique_id"] = df["unique_id"].astype(object)
    df.loc[df["unique_id"] == "sku2", "unique_id"] = missing
    if shuffle:
        df = _shuffled(df)
    with pytest.raises(ValueError, match="unique_id"):
        forecast(df, H, "D", "ses")


def test_missing_categorical_unique_id_is_rejected() -> None:
    df = _panel(n_series=3)
    df["unique_id"] = pd.Categorical(df["unique_id"].where(df["unique_id"] != "sku2"))
    with pytest.raises(ValueError, match="unique_id"):
        forecast(df, H, "D", "ses")


class _Sku(str):
    """A str subclass: equal to its str, but not an exact str for the edge's reader."""


def _relabel(df: pd.DataFrame, labels: dict[str, object], per_row: bool) -> pd.DataFrame:
    """Same panel with other id values: one object per series, or a fresh one per row."""
    ids = df["unique_id"].to_numpy()
    if per_row:
        # "".join builds a new object each time (and keeps subclasses via the constructor).
        new = [type(labels[v])("".join([str(labels[v])])) for v in ids]
    else:
        new = [labels[v] for v in ids]
    return df.assign(unique_id=np.array(new, dtype=object))


@pytest.mark.parametrize("per_row", [False, True])
@pytest.mark.parametrize("labels", [
    "latin1", "ucs2", "ucs4", "mixed_kinds", "long", "tail_bytes", "prefixes", "subclass",
    "mixed_types"])
def test_str_ids_of_every_kind_match_the_object_path(labels: str, per_row: bool) -> None:
    df = _panel(n_series=6, ragged=True)
    keys = sorted(pd.unique(df["unique_id"]))
    values: list[object] = {
        "latin1": ["caf\xe9", "na\xefve", "\xe9t\xe9", "a\xe9", "\xff", "caf\xe9s"],
        "ucs2": ["\u20ac1", "\u20ac2", "\u0394x", "x\u0394", "\u20ac", "\u4e2d\u6587"],
        "ucs4": ["\U0001f600", "\U0001f601", "a\U0001f600", "\U0001f600a", "\U00010000", "z"],
        "mixed_kinds": ["ab", "\xe9b", "\u20acb", "\U0001f600b", "ab\xe9", "b"],
        # 8-byte words plus tails of every length; equal prefixes over whole words.
        "long": ["SKU-0000000000000001", "SKU-0000000000000002", "SKU-00000000000000010",
                 "SKU-0000000", "SKU-00000000", "SKU-000000000"],
        "tail_bytes": ["abcdefgh1", "abcdefgh2", "abcdefghij1", "abcdefghij2", "abcdefg",
                       "abcdefgi"],
        "prefixes": ["a", "aa", "aaa", "aaaa", "aaaaaaaa", "aaaaaaaaa"],
        "subclass": [_Sku("s1"), _Sku("s2"), "s3", _Sku("s4"), "s5", _Sku("s6")],
        "mixed_types": ["s1", 2, "s3", 4, "s5", 6],
    }[labels]
    mapped = _relabel(df, dict(zip(keys, values, strict=True)), per_row)
    if labels == "mixed_types":
        # Unorderable ids: the general path sorts by its own rule; every path must still
        # give one series per id with the same forecasts.
        out = forecast(mapped, H, "D", "ses", quantiles=(0.5, 0.9))
        assert out["unique_id"].nunique() == 6
        return
    out = forecast(mapped, H, "D", "ses", quantiles=(0.5, 0.9))
    plain = mapped.assign(unique_id=[str(v) for v in mapped["unique_id"]])
    plain = plain.sort_values(["unique_id", "ds"], ignore_index=True)
    _assert_same(out, forecast(plain, H, "D", "ses", quantiles=(0.5, 0.9)))


text = st.text(alphabet=st.sampled_from(["a", "b", "\xe9", "\u20ac", "\U0001f600", "0"]),
               max_size=12)


@settings(max_examples=150, deadline=None)
@given(runs=st.lists(st.tuples(text, st.integers(1, 4)), min_size=1, max_size=12))
def test_str_run_scan_matches_python_comparison(runs: list[tuple[str, int]]) -> None:
    from forecasting._edge import STR_LAYOUT, pointers, scan_str_runs

    if STR_LAYOUT is None:
        pytest.skip("the str reader is off on this interpreter")
    # A fresh object on every row, equal contents within a run (and maybe across runs).
    ids = np.array(["".join([v]) for v, k in runs for _ in range(k)], dtype=object)
    expected = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1]
    starts = np.empty(ids.size + 1, dtype=np.int64)
    y = np.ones(ids.size)
    y[-1] = np.inf
    count, ordered, bad = scan_str_runs(pointers(ids), np.arange(ids.size, dtype=np.int64), y,
                                        *STR_LAYOUT, starts)
    assert ordered and bad == 1
    assert starts[:count].tolist() == expected.tolist()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("variant", ["distinct", "shared", "category", "int", "string_pyarrow",
                                     "shuffled", "numeric_ds"])
def test_non_finite_y_is_rejected_on_every_path(variant: str, bad: float) -> None:
    df = _panel(n_series=3)
    if variant == "shared":
        df = _shared_objects(df)
    elif variant == "category":
        df = df.assign(unique_id=df["unique_id"].astype("category"))
    elif variant == "int":
        df = df.assign(unique_id=df["unique_id"].str[3:].astype(np.int64))
    elif variant == "string_pyarrow":
        pytest.importorskip("pyarrow")
        df = df.assign(unique_id=df["unique_id"].astype("string[pyarrow]"))
    elif variant == "shuffled":
        df = _shuffled(df)
    elif variant == "numeric_ds":
        df = df.assign(ds=np.tile(np.arange(40, dtype=np.float64), 3))
    df.loc[[5, 70], "y"] = bad
    with pytest.raises(ValueError, match="expected numeric, finite y, got 2 missing"):
        forecast(df, H, "D", "ses")


def test_non_finite_y_is_reported_before_a_missing_unique_id() -> None:
    df = _panel(n_series=3)
    df["unique_id"] = df["unique_id"].astype(object)
    df.loc[df["unique_id"] == "sku2", "unique_id"] = None
    df.loc[3, "y"] = np.nan
    with pytest.raises(ValueError, match="finite y"):
        forecast(df, H, "D", "ses")
