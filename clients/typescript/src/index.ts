// Node client for Hydrogen's gRPC API (hydrogen.v1.AppService).
// The package's major version tracks the proto package: 1.x speaks hydrogen.v1.
export { Client, HydrogenError, type AppLike, type ClientOptions, type WatchOptions } from "./client";
export { appFromJson, appsFromFile } from "./apps";
export * from "../gen/hydrogen/v1/app";
export { status } from "@grpc/grpc-js";
