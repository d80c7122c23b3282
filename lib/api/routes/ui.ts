/**
 * The cluster page at /ui/: static files shipped in the repository's ui/ directory, served as
 * they are (no build step, nothing from elsewhere). The files hold no data: the page asks the
 * API for everything, under the API's own trust (the browser's client certificate, or a token
 * it trusts it with), so they are open to everyone, as LXD serves its UI.
 * @module
 */
import { Hono } from "hono";
import { notFound } from "../../util/mod.ts";
import type { ApiEnv } from "../context.ts";

// The repository's ui/: three levels up from lib/api/routes/, two from a build of scripts/bundle
// (dist/bundle.*/), whose modules this one is part of there.
const DIR = new URL(
  /\/lib\/api\/routes\/[^/]+$/.test(import.meta.url) ? "../../../ui/" : "../../ui/",
  import.meta.url,
);

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

/**
 * Only this origin's scripts, styles and connections; never inside another site's frame
 * (clickjacking), never guessed as another type.
 */
const HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-cache",
};

export function uiRoutes(): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/ui", (c) => c.redirect("/ui/", 301));
  const serve = async (file: string) => {
    const type = FILES[file];
    if (!type) throw notFound("not found");
    const body = await Deno.readFile(new URL(file, DIR));
    return new Response(body, { status: 200, headers: { "Content-Type": type, ...HEADERS } });
  };
  app.get("/ui/", () => serve("index.html"));
  app.get("/ui/:file", (c) => serve(c.req.param("file")));
  return app;
}
