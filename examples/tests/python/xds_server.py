"""An unmodified gRPC xDS server (grpcio, C-core) of demo.ServiceB, fed by mesh-control.

It asks mesh-control for its inbound listener (gRFC A36) and, with xDS server credentials
(gRFC A29), serves mTLS or plaintext as that listener says, with the certificates of the
bootstrap's certificate providers. It answers as replica "python-xds" and reports the caller's
SPIFFE ID. Prints "python-xds listening on 127.0.0.1:PORT" once the port is bound.
"""

import argparse
import sys
from concurrent import futures

import grpc

from stubs import load_stubs


def peer_spiffe_id(context):
    for value in context.auth_context().get("x509_subject_alternative_name", []):
        text = value.decode()
        if text.startswith("spiffe://"):
            return text
    return ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    pb, pb_grpc = load_stubs(args.proto_dir)

    class Replica(pb_grpc.ServiceBServicer):
        def Get(self, request, context):
            return pb.GetReply(
                replica="python-xds",
                message=f"hello {request.caller}",
                peer=peer_spiffe_id(context),
            )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), xds=True)
    pb_grpc.add_ServiceBServicer_to_server(Replica(), server)
    creds = grpc.xds_server_credentials(grpc.insecure_server_credentials())
    server.add_secure_port(f"127.0.0.1:{args.port}", creds)
    server.start()
    print(f"python-xds listening on 127.0.0.1:{args.port}", flush=True)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
