/**
 * A browser that holds a trusted client certificate presents it to every request it makes to a
 * member, also those that another site's page makes it send (cross-site request forgery, and
 * cross-site websocket hijacking of /1.0/events and exec). Browsers say where a request comes
 * from (`Sec-Fetch-Site`, and `Origin` on writes, fetches and websockets); what comes from
 * anywhere but this very origin is refused before anything runs. Clients that are not browsers
 * (lxc, pylxd, curl, other members) send neither header and are not affected.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { forbidden } from "../util/mod.ts";
import type { ApiEnv } from "./context.ts";

/** Why a request is refused as cross-site, or null. `host` is the request's Host header. */
export function crossSiteRefusal(
  header: (name: string) => string | null | undefined,
  host: string | null | undefined,
): string | null {
  const site = header("sec-fetch-site");
  // "same-site" too: another port on the same address is another program.
  if (site && site !== "same-origin" && site !== "none") {
    return `Cross-site request refused (Sec-Fetch-Site: ${site}): use the page this member serves at /ui/`;
  }
  const origin = header("origin");
  if (origin) {
    let from = "";
    try {
      from = new URL(origin).host;
    } catch { /* "null" and the like */ }
    if (from === "" || !host || from.toLowerCase() !== host.toLowerCase()) {
      return `Cross-origin request refused (Origin: ${origin}): use the page this member serves at /ui/`;
    }
  }
  return null;
}

/** Refuses cross-site browser requests on the HTTPS listeners (the unix socket has no browser). */
export function refuseCrossSite(): MiddlewareHandler<ApiEnv> {
  return async function checkSite(c, next) {
    if (c.env?.peer?.transport === "tls") {
      const why = crossSiteRefusal((n) => c.req.header(n), c.req.header("host"));
      if (why !== null) throw forbidden(why);
    }
    await next();
  };
}
