/**
 * The app's guards against malformed requests, applied before any route: a URL whose path does
 * not decode, or that carries a NUL byte, is refused with 400 here, so that no handler meets it;
 * and the last-resort error answer, which keeps a bug's 500 from echoing a host path.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { badRequest } from "../util/mod.ts";
import type { ApiEnv } from "./context.ts";

/**
 * Why a request URL is malformed, or null when it is not: a path that is not valid
 * percent-encoded UTF-8 (Go's server refuses it too, before LXD sees it), or a NUL byte in the
 * path or in a query value (no name, path or option of LXD's may hold one, and it would reach
 * the kernel as the end of a string).
 */
export function malformedUrl(url: string): string | null {
  const at = url.indexOf("://");
  const start = at < 0 ? 0 : url.indexOf("/", at + 3);
  const target = start < 0 ? "/" : url.slice(start);
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return "Invalid URL path: bad percent-encoding";
  }
  if (decoded.includes("\0")) return "Invalid URL path: it contains a NUL byte";
  if (q >= 0) {
    for (const pair of target.slice(q + 1).split("&")) {
      // Go drops a query pair that does not decode; a NUL in one that does is refused.
      let v: string;
      try {
        v = decodeURIComponent(pair.replaceAll("+", " "));
      } catch {
        continue;
      }
      if (v.includes("\0")) return "Invalid query: it contains a NUL byte";
    }
  }
  return null;
}

/** Refuses a malformed URL (malformedUrl) with 400 before routing. */
export function refuseMalformedUrl(): MiddlewareHandler<ApiEnv> {
  return async function checkUrl(c, next) {
    const why = malformedUrl(c.req.url);
    if (why !== null) throw badRequest(why);
    await next();
  };
}

/**
 * The message of an unexpected error as a client may see it: quoted absolute paths (Deno's and
 * node's file errors name the file) are cut to their last component, so that a bug's 500 tells
 * what failed without showing the host's layout. The full error goes to the log.
 */
export function withoutHostPaths(message: string): string {
  return message.replace(
    /(['"`])\/[^'"`]*?([^/'"`]*)\1/g,
    (_m, q: string, base: string) => `${q}…/${base}${q}`,
  );
}
