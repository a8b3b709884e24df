"""Run a Paddle-Lite ``.nb`` through ``paddlelite.lite.MobileConfig`` for edgedet (Python 3.10 toolchain worker).

Usage: ``python lite_server.py MODEL.nb RESPONSE_FD``. Stand-alone on purpose: it runs in the toolchain venv
(paddlelite 2.13rc0, numpy < 2) and imports nothing from edgedet.

Protocol (every message is a 4-byte little-endian length, then the payload):
* on start the server sends a JSON header ``{"inputs": [...], "outputs": [...], "version": str}`` on RESPONSE_FD;
* each request on stdin is one ``.npy`` payload: float32 ``[1, 3, S, S]``;
* each reply on RESPONSE_FD is one ``.npz`` payload with ``out0, out1, ...`` in the predictor's output order,
  or a JSON ``{"error": str}`` payload when the run failed; a zero-length request (or EOF) ends the server.
Paddle-Lite's own logging goes to stdout/stderr, which is why replies use a separate descriptor.
"""

import io
import json
import os
import struct
import sys

import numpy as np
from paddlelite.lite import MobileConfig, create_paddle_predictor


def _read_exact(stream, n):
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _send(fd, payload):
    data = struct.pack("<Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main(model_path, fd):
    config = MobileConfig()
    config.set_model_from_file(model_path)
    predictor = create_paddle_predictor(config)
    header = {"inputs": list(predictor.get_input_names()), "outputs": list(predictor.get_output_names()),
              "version": predictor.get_version()}
    _send(fd, json.dumps(header).encode())
    stdin = sys.stdin.buffer
    while True:
        head = _read_exact(stdin, 8)
        if head is None:
            return 0
        (size,) = struct.unpack("<Q", head)
        if size == 0:
            return 0
        x = np.load(io.BytesIO(_read_exact(stdin, size)), allow_pickle=False)
        try:
            predictor.get_input(0).from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            predictor.run()
            outs = {f"out{i}": np.array(predictor.get_output(i).numpy()) for i in range(len(header["outputs"]))}
            buf = io.BytesIO()
            np.savez(buf, **outs)
            _send(fd, buf.getvalue())
        except Exception as e:  # noqa: BLE001 -- reported to the client, which raises
            _send(fd, json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
