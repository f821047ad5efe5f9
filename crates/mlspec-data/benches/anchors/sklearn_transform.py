"""The scikit-learn side of scripts/bench-transform: the same transformations as
benches/transform.yaml in one ColumnTransformer, fitted and applied on the same CSV or Parquet
file (pandas reads it), the result
written to Parquet (pyarrow). Prints the seconds of each stage on standard error.

Usage: sklearn_transform.py DATA.csv|DATA.parquet OUT.parquet
"""
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)


def ordinal(**options):
    return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, **options)


def transformer():
    edges = KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="uniform", quantile_method="averaged_inverted_cdf")
    return ColumnTransformer(
        [
            ("num0", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["num0"]),
            ("num1", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), ["num1"]),
            ("num2", MinMaxScaler(), ["num2"]),
            ("num3", make_pipeline(FunctionTransformer(lambda x: np.log(np.clip(x, 0, None) + 1), feature_names_out="one-to-one"), StandardScaler()), ["num3"]),
            ("num4", edges, ["num4"]),
            ("num5", KBinsDiscretizer(n_bins=10, encode="ordinal", strategy="quantile", quantile_method="linear"), ["num5"]),
            ("num6", make_pipeline(SimpleImputer(strategy="constant", fill_value=0.0), MinMaxScaler()), ["num6"]),
            ("num7", StandardScaler(), ["num7"]),
            ("cat0", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["cat0"]),
            ("cat1", ordinal(), ["cat1"]),
            ("cat2", ordinal(max_categories=51), ["cat2"]),
            ("cat3", ordinal(min_frequency=5), ["cat3"]),
            ("cat4", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["cat4"]),
            ("cat5", make_pipeline(SimpleImputer(strategy="most_frequent"), ordinal()), ["cat5"]),
            ("cat6", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["cat6"]),
        ],
        sparse_threshold=0,
    )


def main(data, out):
    stages = []
    start = time.perf_counter()
    frame = pd.read_parquet(data) if data.endswith(".parquet") else pd.read_csv(data)
    stages.append(("read", time.perf_counter() - start))
    start = time.perf_counter()
    columns = transformer()
    columns.fit(frame)
    # The given bucket boundaries of num4, as `bucketize: {boundaries: […]}`.
    columns.named_transformers_["num4"].bin_edges_ = np.array([np.array([-np.inf, 25.0, 50.0, 75.0, np.inf])], dtype=object)
    stages.append(("fit", time.perf_counter() - start))
    start = time.perf_counter()
    result = columns.transform(frame)
    stages.append(("transform", time.perf_counter() - start))
    start = time.perf_counter()
    names = [str(n) for n in columns.get_feature_names_out()]
    table = pa.table({name: result[:, i] for i, name in enumerate(names)})
    pq.write_table(table, out)
    stages.append(("write", time.perf_counter() - start))
    print(" ".join(f"{name}={seconds:.2f}" for name, seconds in stages), file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:3])
