"""An unmodified gRPC xDS client (grpcio, C-core) calling demo.ServiceB/Get through mesh-control.

Reads its bootstrap from GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG, as every gRPC xDS
client does, makes --calls calls to --target and prints one JSON line:
{"replicas": {"name": count, ...}, "errors": n, "first_error": "..."}.
"""

import argparse
import json
import sys

import grpc

from stubs import load_stubs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--proto-dir", required=True)
    args = parser.parse_args()
    pb, pb_grpc = load_stubs(args.proto_dir)

    replicas, errors, first_error = {}, 0, None
    with grpc.insecure_channel(args.target) as channel:
        stub = pb_grpc.ServiceBStub(channel)
        for _ in range(args.calls):
            try:
                reply = stub.Get(pb.GetRequest(caller="python"), timeout=20, wait_for_ready=True)
                replicas[reply.replica] = replicas.get(reply.replica, 0) + 1
            except grpc.RpcError as e:
                errors += 1
                first_error = first_error or f"{e.code()}: {e.details()}"
    print(json.dumps({"replicas": replicas, "errors": errors, "first_error": first_error}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
