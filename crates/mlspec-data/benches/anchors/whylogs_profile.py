"""Anchor: whylogs profiles the CSV (read with pandas, as its documentation does)."""
import sys

import pandas as pd
import whylogs as why

frame = pd.read_csv(sys.argv[1])
view = why.log(frame).view()
print(len(view.get_columns()), "columns profiled")
