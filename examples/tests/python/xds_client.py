"""An unmodified gRPC xDS client (grpcio, C-core) calling demo.ServiceB/Get through mesh-control.

Reads its bootstrap from GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG, as every gRPC xDS
client does, makes --calls calls to --target and prints one JSON line:
{"replicas": {"name": count, ...}, "peers": [...], "errors": n, "first_error": "...",
"statuses": {"OK": n, "UNAVAILABLE": m, ...}}, where "peers" are the caller identities the
servers reported seeing. It stops after 3 errors unless --keep-going is given.

With --xds-creds the channel uses gRPC's xDS credentials (gRFC A29): mTLS as the xDS Cluster
says, with the certificates of the bootstrap's certificate providers; plaintext otherwise.
"""

import argparse
import json
import sys

import grpc
import grpc.experimental

from stubs import load_stubs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--xds-creds", action="store_true")
    parser.add_argument("--keep-going", action="store_true",
                        help="make every call even when some fail")
    args = parser.parse_args()
    pb, pb_grpc = load_stubs(args.proto_dir)

    replicas, peers, errors, first_error, statuses = {}, set(), 0, None, {}
    if args.xds_creds:
        creds = grpc.xds_channel_credentials(
            fallback_credentials=grpc.experimental.insecure_channel_credentials()
        )
        channel = grpc.secure_channel(args.target, creds)
    else:
        channel = grpc.insecure_channel(args.target)
    with channel:
        stub = pb_grpc.ServiceBStub(channel)
        for _ in range(args.calls):
            try:
                reply = stub.Get(pb.GetRequest(caller="python"), timeout=20, wait_for_ready=True)
                replicas[reply.replica] = replicas.get(reply.replica, 0) + 1
                peers.add(reply.peer)
                statuses["OK"] = statuses.get("OK", 0) + 1
            except grpc.RpcError as e:
                errors += 1
                first_error = first_error or f"{e.code()}: {e.details()}"
                statuses[e.code().name] = statuses.get(e.code().name, 0) + 1
                if errors >= 3 and not args.keep_going:
                    break
    print(json.dumps({
        "replicas": replicas,
        "peers": sorted(peers),
        "errors": errors,
        "first_error": first_error,
        "statuses": statuses,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
