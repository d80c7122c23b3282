/**
 * GET /1.0/metrics: LXD's instance metrics of this member's running containers and, what no
 * LXD has, the whole cluster's metrics with a `location` label (lib/cluster/metrics.ts), in
 * Prometheus' text format. GET /internal/metrics: one member's own figures for another member.
 * @module
 */
import { Hono } from "hono";
import { type Family, renderText } from "../../util/metrics.ts";
import type { ApiEnv } from "../context.ts";
import { sync } from "../response.ts";

/** Where the figures come from (the daemon wires them). */
export interface MetricSources {
  /** LXD's instance metrics of this member's running containers. */
  instances(): Promise<Family[]>;
  /** Every member's figures, each with its location. */
  cluster(): Promise<{ families: Family[]; extra: Record<string, string> }[]>;
  /** This member's own figures, for another member's GET /1.0/metrics. */
  local(): Family[];
}

export function metricsRoutes(sources: MetricSources): () => Hono<ApiEnv> {
  return () => {
    const app = new Hono<ApiEnv>();
    app.get("/1.0/metrics", async (c) => {
      const id = c.var.identity;
      let instances = await sources.instances();
      // A restricted client sees its projects' instances only, and nothing of the cluster.
      if (id.kind === "restricted") {
        instances = instances.map((f) => ({
          ...f,
          samples: f.samples.filter((s) => id.projects.includes(s.labels.project ?? "")),
        }));
      }
      const cluster = id.kind === "restricted" ? [] : await sources.cluster();
      const text = renderText([{ families: instances }, ...cluster]);
      return c.body(text, 200, { "Content-Type": "text/plain; version=0.0.4" });
    });
    app.get("/internal/metrics", (c) => sync(c, sources.local()));
    return app;
  };
}
