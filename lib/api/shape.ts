/**
 * The JSON types of the fields of LXD's request bodies, checked once for every body of the public
 * API before a handler reads it: LXD decodes into Go structs, so a number where a name goes, or an
 * object where a device value goes, is a 400 there and never reaches the code. A field means the
 * same thing wherever LXD's API uses its name (api.InstancesPost, api.ProfilePut, api.CertificatesPost,
 * api.StoragePoolsPost...), so one table serves every route; a route whose field differs passes
 * an override (PUT /1.0's config takes any scalar, as api.ServerPut's map[string]any).
 * @module
 */
import { badRequest } from "../util/mod.ts";

/** What a field must hold. "object" is any JSON object (checked further by its route). */
export type FieldType =
  | "string"
  | "boolean"
  | "number"
  | "object"
  | "string[]"
  | "object[]"
  | "strings" // an object of strings (Go's map[string]string)
  | "scalars" // an object of strings, numbers, booleans or nulls (map[string]any of scalars)
  | "devices"; // an object of objects of strings (map[string]map[string]string)

/** Every field of LXD's request bodies that shoal reads, by name. */
export const FIELD_TYPES: Readonly<Record<string, FieldType>> = {
  name: "string",
  description: "string",
  type: "string",
  certificate: "string",
  password: "string",
  trust_token: "string",
  architecture: "string",
  action: "string",
  server_name: "string",
  server_address: "string",
  cluster_address: "string",
  cluster_certificate: "string",
  cluster_certificate_key: "string",
  cluster_password: "string",
  cluster_token: "string",
  failure_domain: "string",
  driver: "string",
  content_type: "string",
  filename: "string",
  compression_algorithm: "string",
  expires_at: "string",
  target: "string",
  cwd: "string",
  pool: "string",
  restricted: "boolean",
  ephemeral: "boolean",
  stateful: "boolean",
  public: "boolean",
  auto_update: "boolean",
  force: "boolean",
  start: "boolean",
  enabled: "boolean",
  interactive: "boolean",
  "wait-for-websocket": "boolean",
  "record-output": "boolean",
  token: "boolean",
  migration: "boolean",
  live: "boolean",
  timeout: "number",
  width: "number",
  height: "number",
  user: "number",
  group: "number",
  source: "object",
  aliases: "object[]",
  member_config: "object[]",
  config: "strings",
  environment: "strings",
  properties: "strings",
  profiles: "string[]",
  projects: "string[]",
  roles: "string[]",
  groups: "string[]",
  command: "string[]",
  devices: "devices",
};

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const NAMES: Record<FieldType, string> = {
  string: "a string",
  boolean: "a boolean",
  number: "a number",
  object: "an object",
  "string[]": "an array of strings",
  "object[]": "an array of objects",
  strings: "an object of strings",
  scalars: "an object of strings",
  devices: "an object of devices",
};

function refuse(field: string, want: string, got: unknown): never {
  throw badRequest(`Invalid "${field}": must be ${want}, not ${kindOf(got)}`);
}

function checkField(field: string, t: FieldType, v: unknown): void {
  switch (t) {
    case "string":
    case "boolean":
    case "number":
      // A string field's type is its typeof name.
      if ((typeof v as string) !== t) refuse(field, NAMES[t], v);
      return;
    case "object":
      if (!isObject(v)) refuse(field, NAMES[t], v);
      return;
    case "string[]":
    case "object[]": {
      if (!Array.isArray(v)) refuse(field, NAMES[t], v);
      const each = t === "string[]" ? "string" : "object";
      v.forEach((x, i) => checkField(`${field}[${i}]`, each, x));
      return;
    }
    case "strings":
    case "scalars":
      if (!isObject(v)) refuse(field, NAMES[t], v);
      for (const [k, x] of Object.entries(v)) {
        // Go sets a map entry given as null to its zero value, "".
        if (x === null) continue;
        const ok = typeof x === "string" ||
          (t === "scalars" && (typeof x === "number" || typeof x === "boolean"));
        if (!ok) refuse(`${field}.${k}`, "a string", x);
      }
      return;
    case "devices":
      if (!isObject(v)) refuse(field, NAMES[t], v);
      for (const [name, dev] of Object.entries(v)) checkField(`${field}.${name}`, "strings", dev);
      return;
  }
}

/**
 * Checks the known fields of a request body against FIELD_TYPES (and overrides), in place:
 * a field given as null is dropped, as Go leaves a field it decodes null into untouched, and
 * a map entry given as null becomes "". Throws a 400 naming the first field of the wrong type.
 */
export function checkBodyShape(
  body: Record<string, unknown>,
  overrides: Readonly<Record<string, FieldType>> = {},
): void {
  for (const [field, v] of Object.entries(body)) {
    const t = overrides[field] ?? FIELD_TYPES[field];
    if (t === undefined) continue;
    if (v === null) {
      delete body[field];
      continue;
    }
    checkField(field, t, v);
    if (t === "strings" || t === "scalars") {
      const m = v as Record<string, unknown>;
      for (const k of Object.keys(m)) if (m[k] === null && t === "strings") m[k] = "";
    }
  }
}
