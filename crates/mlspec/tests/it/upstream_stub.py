"""A stand-in model server for the gateway's tests (Python's standard library only).

Speaks the Open Inference Protocol v2: `POST /v2/models/{m}/infer` answers, for each row of the
first input ([N, F], FP64), `predict` = 1 when the row's sum is positive, else 0, and echoes the
request's `id`; `GET /v2/health/ready|live` answer 200. Behaviour by request header `x-stub`:
`slow:SECONDS` sleeps before answering, `garbage` answers bytes that are not HTTP, `close`
closes the connection without answering, `status:N` answers status N, `cut` announces a longer
body than it sends. Usage: upstream_stub.py PORT_FILE (writes the port it listens on).
"""

import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/v2/health/"):
            self.answer(200, {})
        elif self.path.startswith("/v2/models/"):
            self.answer(200, {"name": "m", "platform": "stub", "inputs": [], "outputs": []})
        else:
            self.answer(404, {"error": f"no route {self.path}"})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        behaviour = self.headers.get("x-stub", "")
        if behaviour.startswith("slow:"):
            time.sleep(float(behaviour[5:]))
        if behaviour == "garbage":
            self.wfile.write(b"\x00\x01 this is not HTTP\r\n\r\n")
            self.close_connection = True
            return
        if behaviour == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if behaviour == "cut":
            self.send_response(200)
            self.send_header("content-length", "1000")
            self.end_headers()
            self.wfile.write(b'{"partial": ')
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if behaviour.startswith("status:"):
            self.answer(int(behaviour[7:]), {"error": "asked for"})
            return
        try:
            request = json.loads(body)
            tensor = request["inputs"][0]
            rows, features = tensor["shape"]
            data = tensor["data"]
            flat = [v for row in data for v in row] if data and isinstance(data[0], list) else data
            predict = [int(sum(flat[r * features:(r + 1) * features]) > 0) for r in range(rows)]
        except (ValueError, KeyError, TypeError, IndexError) as e:
            self.answer(400, {"error": f"bad request: {e}"})
            return
        answer = {"model_name": "m", "outputs": [{"name": "predict", "shape": [rows], "datatype": "INT64", "data": predict}]}
        if "id" in request:
            answer["id"] = request["id"]
        self.answer(200, answer)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
