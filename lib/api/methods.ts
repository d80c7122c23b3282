import type { Hono } from "hono";
import type { ApiEnv } from "./context.ts";

/** Turns a Hono route path (`/1.0/x/:name`, `:name{re}`, `*`) into a RegExp over the whole path. */
function pathRegExp(path: string): RegExp {
  let re = "";
  for (let i = 0; i < path.length;) {
    const rest = path.slice(i);
    const param = /^:\w+(\{((?:[^{}]|\{[^}]*\})+)\})?\??/.exec(rest);
    if (param) {
      re += param[2] ? `(?:${param[2]})` : "[^/]+";
      i += param[0].length;
    } else if (rest[0] === "*") {
      re += ".*";
      i++;
    } else {
      re += rest[0]!.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
      i++;
    }
  }
  return new RegExp(`^${re}/?$`);
}

/**
 * Knows which methods an app serves on a path, so that a known path with an unknown method is
 * answered as LXD does (`Method "X" not found`, 404) rather than as an unknown path.
 */
export class MethodIndex {
  #app: Hono<ApiEnv>;
  #seen = -1;
  #routes: { method: string; re: RegExp }[] = [];

  constructor(app: Hono<ApiEnv>) {
    this.#app = app;
  }

  /** The methods served on path (empty when the path itself is unknown). */
  methodsFor(path: string): string[] {
    const routes = this.#app.routes;
    if (routes.length !== this.#seen) {
      // Middleware is registered as ALL; only real handlers tell what a path serves.
      this.#routes = routes.filter((r) => r.method !== "ALL").map((r) => ({
        method: r.method,
        re: pathRegExp(r.path),
      }));
      this.#seen = routes.length;
    }
    return [...new Set(this.#routes.filter((r) => r.re.test(path)).map((r) => r.method))];
  }
}
