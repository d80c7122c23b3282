import type { Context } from "hono";
import { badRequest, StatusError } from "../util/mod.ts";
import { checkBodyShape, type FieldType } from "./shape.ts";

/**
 * Largest JSON body a route reads. Configs, certificates and preseeds are kilobytes; the limit keeps
 * a runaway or hostile client from making the daemon buffer gigabytes. Uploads (images, files) stream
 * through their own routes and are not bound by it.
 */
export const MAX_JSON_BODY = 8 * 1024 * 1024;

function tooLarge(): StatusError {
  return new StatusError(
    413,
    `Request body is too large: the limit is ${MAX_JSON_BODY / 1024 / 1024} MiB of JSON`,
  );
}

/** Reads the body as text, refusing it (413) as soon as it passes the limit. */
async function readCapped(c: Context): Promise<string> {
  const length = c.req.header("Content-Length");
  if (length !== undefined) {
    if (Number(length) > MAX_JSON_BODY) throw tooLarge();
    // A declared length is all the server reads of the body (HTTP/1.1 framing): read it whole.
    // Streaming it chunk by chunk through an async iterator cost more than the chunks (a reader
    // released per body: ~2% of a leader taking PATCH /1.0 from 16 clients, CPU profile), and
    // so did asking for the body's stream first (text() makes it only if it must).
    return await c.req.raw.text();
  }
  const body = c.req.raw.body;
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_JSON_BODY) throw tooLarge();
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    all.set(ch, at);
    at += ch.length;
  }
  return new TextDecoder().decode(all);
}

/**
 * Parses a JSON request body whatever Content-Type came with it (LXD decodes every body as JSON:
 * curl's -d says application/x-www-form-urlencoded, and scripts rely on that): 413 over
 * MAX_JSON_BODY, 400 with the parser's reason when it is not a JSON object, and 400 naming the
 * field when a field of LXD's has the wrong JSON type (shape.ts; fields passes a route's own
 * types). Bodies of /internal calls come from members and are typed by lib/wire instead.
 */
export async function readJson<T>(c: Context, fields: Readonly<Record<string, FieldType>> = {}): Promise<T> {
  const text = await readCapped(c);
  if (text.trim() === "") return {} as T;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw badRequest(`Invalid JSON body: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw badRequest(
      `Invalid JSON body: expected a JSON object, not ${
        Array.isArray(v) ? "an array" : String(v === null ? "null" : typeof v)
      }`,
    );
  }
  if (!c.req.path.startsWith("/internal/")) checkBodyShape(v as Record<string, unknown>, fields);
  return v as T;
}
