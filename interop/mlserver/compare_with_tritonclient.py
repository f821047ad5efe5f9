"""Sends the same Open Inference Protocol requests to MLServer directly and through the gateway
with tritonclient.http, and fails unless the answers are identical.

Usage: compare_with_tritonclient.py DIRECT_ADDR GATEWAY_ADDR MODEL (run with the interop venv's
python). MLServer lacks the binary tensor extension: inputs and outputs go as JSON
(`binary_data=False`). Through the gateway it also checks the health and metadata calls.
Prints the answers, one line per batch.
"""

import sys

import numpy as np
import tritonclient.http as httpclient


def predict(client, model, rows):
    tensor = httpclient.InferInput("features", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=False)
    wanted = httpclient.InferRequestedOutput("predict", binary_data=False)
    return client.infer(model, [tensor], outputs=[wanted]).as_numpy("predict")


def main():
    direct_addr, gateway_addr, model = sys.argv[1:4]
    direct = httpclient.InferenceServerClient(url=direct_addr)
    gateway = httpclient.InferenceServerClient(url=gateway_addr)
    assert gateway.is_server_live(), "is_server_live through the gateway"
    assert gateway.is_server_ready(), "is_server_ready through the gateway"
    assert gateway.is_model_ready(model), "is_model_ready through the gateway"
    metadata = gateway.get_model_metadata(model)
    assert metadata["name"] == model, f"metadata through the gateway: {metadata}"
    assert metadata == direct.get_model_metadata(model), f"metadata differs: {metadata}"
    rng = np.random.default_rng(7)
    batches = [rng.normal(size=(n, 2)) for n in (1, 3, 8)] + [np.array([[2.0, 1.0], [-2.0, -1.0]])]
    for rows in batches:
        expected = predict(direct, model, rows)
        answered = predict(gateway, model, rows)
        assert answered is not None and np.array_equal(expected, answered), (
            f"rows {rows.tolist()}: direct {expected}, through the gateway {answered}"
        )
        print(f"{len(rows)} rows: {answered.ravel().tolist()}")
    sides = predict(gateway, model, batches[-1]).ravel().tolist()
    assert sides == [1, 0], f"the model separates the two sides: {sides}"


if __name__ == "__main__":
    main()
