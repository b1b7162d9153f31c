"""The pandas edge's fast paths give the same forecasts as the plain object-id path.

`forecast(df, ...)` groups rows by comparing adjacent ids (object pointers first, then
contents), categorical codes or pyarrow compares, and only falls back to factorize +
sort when rows are not grouped by series in date order. Every path must agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
