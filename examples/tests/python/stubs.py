"""Generates the Python code of proto/demo.proto into a temporary directory and imports it."""

import importlib
import os
import sys
import tempfile

from grpc_tools import protoc


def load_stubs(proto_dir):
    out = tempfile.mkdtemp(prefix="demo-stubs-")
    status = protoc.main([
        "protoc",
        f"-I{proto_dir}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        os.path.join(proto_dir, "demo.proto"),
    ])
    if status != 0:
        raise RuntimeError(f"protoc failed on {proto_dir}/demo.proto with status {status}")
    sys.path.insert(0, out)
    return importlib.import_module("demo_pb2"), importlib.import_module("demo_pb2_grpc")
