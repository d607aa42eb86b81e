"""Generated `hydrogen.v1` messages (`app_pb2`) and stubs (`app_pb2_grpc`).

Regenerate with `make clients`; do not edit the generated modules.
"""
