"""A tracking server that does no work: the ceiling of any server's speed through the MLflow client.

It answers the calls of the client workload's log_batch phase (`experiments/create`,
`runs/create`, `runs/log-batch`, `runs/update`) at once with a fixed, well-formed answer, keeps
nothing, and answers every other call with an empty JSON object. The workload's log_batch phase
against it measures what the Python client itself costs per run; no server, however fast, can
make the phase faster than that. benches/server.py runs it beside the two real servers.

    python mlflow_null_server.py PORT
"""
import asyncio
import json
import sys
import uuid

RUN_INFO = {
    "experiment_id": "1",
    "user_id": "bench",
    "status": "RUNNING",
    "start_time": 0,
    "artifact_uri": "mlflow-artifacts:/1/run/artifacts",
    "lifecycle_stage": "active",
    "run_name": "run",
}


def answer(path):
    if path.endswith("/experiments/create"):
        return {"experiment_id": "1"}
    if path.endswith("/runs/create"):
        run_id = uuid.uuid4().hex
        return {"run": {"info": dict(RUN_INFO, run_id=run_id, run_uuid=run_id), "data": {}}}
    if path.endswith("/runs/update"):
        return {"run_info": dict(RUN_INFO, status="FINISHED")}
    return {}


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            body = json.dumps(answer(path)).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
