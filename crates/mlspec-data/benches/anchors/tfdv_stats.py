"""TFDV anchor: generate_statistics_from_csv on the file (Apache Beam's DirectRunner, as TFDV
runs by default), then touch the result so that nothing is left lazy."""
import sys

import tensorflow_data_validation as tfdv

stats = tfdv.generate_statistics_from_csv(sys.argv[1], output_path="/tmp/mlspec-bench-tfdv.tfrecord")
features = stats.datasets[0].features
print(stats.datasets[0].num_examples, len(features))
