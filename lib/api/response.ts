import type { Context } from "hono";
import type { Envelope } from "../wire/mod.ts";
import type { OperationJSON } from "../operations/mod.ts";

/** A sync reply: 200 (or status) with metadata; an ETag header when given. */
export function sync(
  c: Context,
  metadata: unknown,
  options: { etag?: string; status?: 200 | 201 } = {},
): Response {
  const body: Envelope = {
    type: "sync",
    status: "Success",
    status_code: 200,
    operation: "",
    error_code: 0,
    error: "",
    metadata: metadata ?? {},
  };
  if (options.etag) c.header("ETag", options.etag);
  return c.json(body, options.status ?? 200);
}

/** The empty sync reply LXD sends after a successful write. */
export function emptySync(c: Context): Response {
  return sync(c, {});
}

/** A 202 reply for a background operation, with its Location. */
export function async(c: Context, op: OperationJSON): Response {
  const url = `/1.0/operations/${op.id}`;
  c.header("Location", url);
  const body: Envelope = {
    type: "async",
    status: "Operation created",
    status_code: 100,
    operation: url,
    error_code: 0,
    error: "",
    metadata: op,
  };
  return c.json(body, 202);
}

/** LXD's error envelope. */
export function errorBody(status: number, message: string): Envelope<null> {
  return {
    type: "error",
    status: "",
    status_code: 0,
    operation: "",
    error_code: status,
    error: message,
    metadata: null,
  };
}

/** An error reply. */
export function error(status: number, message: string): Response {
  return new Response(JSON.stringify(errorBody(status, message)), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}
