import { deepStrictEqual as assertEquals } from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { family, Registry, renderText } from "./metrics.ts";

type Parsed = {
  name: string;
  type: string;
  help: string;
  metrics: {
    labels?: Record<string, string>;
    value?: string;
    buckets?: Record<string, string>;
    count?: string;
  }[];
}[];

Deno.test("metrics render as Prometheus text a real parser reads back, merged across members", () => {
  const r = new Registry();
  r.counter("x_requests_total", "Requests.").inc({ route: "/1.0", status: "200" }, 3);
  r.gauge("x_term", "Term.").set({}, 7);
  const h = r.histogram("x_seconds", "Latency.", [0.01, 0.1]);
  h.observe({}, 0.005);
  h.observe({}, 0.05);
  h.observe({}, 5);
  const other = [family("x_term", "gauge", "Term.", [{ labels: {}, value: 8 }])];
  const text = renderText([
    { families: r.families(), extra: { location: "m1" } },
    { families: other, extra: { location: 'm2 "quoted"\\' } },
  ]);
  const parsed = parsePrometheusTextFormat(text) as Parsed;
  const byName = new Map(parsed.map((f) => [f.name, f]));
  assertEquals(byName.get("x_requests_total")?.type, "COUNTER");
  assertEquals(byName.get("x_requests_total")?.metrics[0], {
    labels: { route: "/1.0", status: "200", location: "m1" },
    value: "3",
  });
  // One family header for both members' samples, each with its location.
  assertEquals(
    byName.get("x_term")?.metrics.map((m) => [m.labels?.location, m.value]),
    [["m1", "7"], ['m2 "quoted"\\', "8"]],
  );
  const hist = byName.get("x_seconds")!;
  assertEquals(hist.type, "HISTOGRAM");
  assertEquals(hist.metrics[0]?.buckets, { "0.01": "1", "0.1": "2", "+Inf": "3" });
  // The parser folds a labelled histogram's _sum and _count away (it keeps them for an unlabelled
  // one only): they are checked as text.
  assertEquals(text.includes('x_seconds_count{location="m1"} 3\n'), true);
  assertEquals(text.includes('x_seconds_sum{location="m1"} 5.055\n'), true);
  assertEquals(text.split("\n").filter((l) => l.startsWith("# TYPE x_term")).length, 1);
});

Deno.test("a metric name used with two types is refused where it is defined", () => {
  const r = new Registry();
  r.counter("y_total", "Y.");
  let msg = "";
  try {
    r.gauge("y_total", "Y.");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, "metric y_total is not a gauge");
});

Deno.test("a series found once counts into the same samples as inc() and observe() with the same labels", () => {
  const r = new Registry();
  const c = r.counter("x_total", "X.");
  c.inc({ b: "2", a: "1" });
  c.series({ a: "1", b: "2" }).v += 2;
  const h = r.histogram("x_seconds", "X.", [0.1]);
  h.observe({ route: "/1.0" }, 0.05);
  h.observer({ route: "/1.0" })(5);
  const [counter, histogram] = r.families();
  assertEquals(counter!.samples, [{ labels: { b: "2", a: "1" }, value: 3 }]);
  assertEquals(histogram!.histograms, [{ labels: { route: "/1.0" }, buckets: [1], sum: 5.05, count: 2 }]);
});
