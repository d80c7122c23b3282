/**
 * LXD wire types shared by every layer: the API serves them, the client reads them,
 * operations and events are made of them.
 * Field order follows LXD's, since users see it in JSON and YAML output.
 * @module
 */

export * from "./cluster.ts";
export * from "./instances.ts";

/** The response envelope of every /1.0 request. */
export interface Envelope<T = unknown> {
  type: "sync" | "async" | "error";
  status: string;
  status_code: number;
  operation: string;
  error_code: number;
  error: string;
  metadata: T;
}

/** GET /1.0. */
export interface Server {
  /** Absent for untrusted callers; secrets show as the boolean true. */
  config?: Record<string, string | true>;
  api_extensions: string[];
  api_status: string;
  api_version: string;
  auth: "trusted" | "untrusted";
  public: boolean;
  auth_methods: string[];
  environment?: ServerEnvironment;
}

/** The environment part of GET /1.0 (trusted callers). */
export interface ServerEnvironment {
  addresses: string[];
  architectures: string[];
  certificate: string;
  certificate_fingerprint: string;
  driver: string;
  driver_version: string;
  firewall: string;
  kernel: string;
  kernel_architecture: string;
  kernel_features: Record<string, string>;
  kernel_version: string;
  lxc_features: Record<string, string>;
  os_name: string;
  os_version: string;
  project: string;
  server: string;
  server_clustered: boolean;
  server_event_mode: string;
  server_name: string;
  server_pid: number;
  server_version: string;
  storage: string;
  storage_version: string;
  storage_supported_drivers: { Name: string; Version: string; Remote: boolean }[];
}

/** PUT/PATCH /1.0 body. */
export interface ServerPut {
  config: Record<string, string | true>;
}

/** A trusted certificate (GET /1.0/certificates/{fp}). */
export interface Certificate {
  name: string;
  type: "client" | "server" | "metrics";
  restricted: boolean;
  projects: string[];
  certificate: string;
  fingerprint: string;
}

/** POST /1.0/certificates body. */
export interface CertificatesPost {
  name?: string;
  /** "client", "server" or "metrics"; anything else is refused. */
  type?: string;
  restricted?: boolean;
  projects?: string[];
  certificate?: string;
  password?: string;
  trust_token?: string;
  token?: boolean;
}

/** A certificate add token as `lxc config trust add` prints it (base64 JSON). */
export interface CertificateAddToken {
  client_name: string;
  fingerprint: string;
  addresses: string[];
  secret: string;
  expires_at: string;
}

/** A cluster join token (base64 JSON, LXD's field order). */
export interface JoinToken {
  server_name: string;
  fingerprint: string;
  addresses: string[];
  secret: string;
  expires_at: string;
}

/** LXD's operation classes. */
export type OpClass = "task" | "websocket" | "token";

/** An operation as the API shows it. */
export interface Operation {
  id: string;
  class: OpClass;
  description: string;
  created_at: string;
  updated_at: string;
  status: string;
  status_code: number;
  resources: Record<string, string[]> | null;
  metadata: Record<string, unknown> | null;
  may_cancel: boolean;
  err: string;
  location: string;
}

/** Event types of /1.0/events. */
export type EventType = "operation" | "lifecycle" | "logging";

/** An event as /1.0/events sends it. */
export interface Event {
  type: EventType;
  timestamp: string;
  metadata: unknown;
  location: string;
  project: string;
}
