// App JSON (the REST API's and examples/*.json shape) to a protobuf App.
//
// The proto mirrors the JSON one to one except for keywords, which are enums
// ("unique" -> STRATEGY_TYPE_UNIQUE), and the JSON's lists of string maps,
// which are StringMap messages (and DriverOpt: a string or a map). ts-proto's
// fromJSON takes the enum names, so this rewrites the keyword fields first.
import { readFileSync } from "node:fs";
import { App } from "../gen/hydrogen/v1/app";

type Json = any;

// Where the keywords are, as paths of field names ("[]" marks a list).
const ENUMS: Record<string, string> = {
  "strategy.type": "STRATEGY_TYPE_",
  "filters[].type": "FILTER_TYPE_",
  "filters[].op": "SCALAR_OP_",
  "resources.disk.source.type": "DISK_SOURCE_TYPE_",
  "container.volume[].mode": "VOLUME_MODE_",
  "container.volume[].source.type": "VOLUME_SOURCE_TYPE_",
  "container.network[].ipaddress[].protocol": "IP_PROTOCOL_",
  "container.network[].port_mapping[].protocol": "PORT_PROTOCOL_",
  "healthcheck.type": "HEALTH_CHECK_TYPE_",
  "healthcheck.http.scheme": "HTTP_SCHEME_",
};
const STRING_MAPS = new Set(["container.network[].labels[]", "container.network[].ipaddress[].labels[]"]);
const DRIVER_OPTS = "container.volume[].source.docker_volume.driveropts[]";

function walk(value: Json, path: string): Json {
  if (path in ENUMS && typeof value === "string") {
    const prefix = ENUMS[path];
    return value.toUpperCase().startsWith(prefix) ? value : prefix + value.toUpperCase();
  }
  if (STRING_MAPS.has(path) && value && typeof value === "object" && !("entries" in value)) {
    return { entries: value };
  }
  if (path === DRIVER_OPTS) {
    if (typeof value === "string") return { text: value };
    if (value && typeof value === "object" && !("text" in value) && !("map" in value)) {
      return { map: { entries: value } };
    }
  }
  if (Array.isArray(value)) return value.map((v) => walk(v, path + "[]"));
  if (value && typeof value === "object" && !path.endsWith("environment") && !path.endsWith("labels")) {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) out[k] = walk(v, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}

const TOP_LEVEL = new Set([
  "name", "resources", "filters", "instances", "strategy", "command",
  "container", "healthcheck", "labels", "retry", "executor",
]);

/** One app JSON object as a protobuf App (throws on unknown top-level fields). */
export function appFromJson(app: Json): App {
  for (const key of Object.keys(app ?? {})) {
    if (!TOP_LEVEL.has(key)) throw new Error(`unknown app field ${JSON.stringify(key)}`);
  }
  return App.fromJSON(walk(app, ""));
}

/** The apps of a JSON file holding one app object or an array of them. */
export function appsFromFile(path: string): App[] {
  const data = JSON.parse(readFileSync(path, "utf8"));
  return (Array.isArray(data) ? data : [data]).map(appFromJson);
}
