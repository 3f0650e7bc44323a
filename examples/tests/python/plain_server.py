"""A plain grpcio server (no xDS) of demo.ServiceB that answers as replica "python-grpcio".

Prints "python-grpcio listening on 127.0.0.1:PORT" once it serves.
"""

import argparse
import sys
from concurrent import futures

import grpc

from stubs import load_stubs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proto-dir", required=True)
    args = parser.parse_args()
    pb, pb_grpc = load_stubs(args.proto_dir)

    class Replica(pb_grpc.ServiceBServicer):
        def Get(self, request, context):
            return pb.GetReply(replica="python-grpcio", message=f"hello {request.caller}")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_ServiceBServicer_to_server(Replica(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"python-grpcio listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
