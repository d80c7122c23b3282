/**
 * Debian's chromium, headless, driven over the DevTools protocol in real time, holding a client
 * certificate from an NSS database in a private HOME and presenting it to one origin without
 * asking (a setting of its private profile, no system policy). `--dump-dom` would not do: it
 * never returns while a page keeps a request open, as the cluster page's event stream does.
 */
import { run } from "./member.ts";

export const HAVE_CHROMIUM =
  (await run("sh", ["-c", "command -v chromium && command -v pk12util"])).code === 0;

type Pending = (m: { result?: Record<string, unknown>; error?: { message: string } }) => void;

/** One page of the browser. */
export class Page {
  #ws: WebSocket;
  #id = 0;
  #wait = new Map<number, Pending>();
  #listeners: ((method: string, params: Record<string, unknown>) => void)[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.id !== undefined) {
        this.#wait.get(m.id)?.(m);
        this.#wait.delete(m.id);
      } else if (m.method) { for (const l of this.#listeners) l(m.method, m.params ?? {}); }
    };
  }

  static async open(url: string): Promise<Page> {
    const ws = new WebSocket(url);
    await new Promise((r, j) => {
      ws.onopen = r;
      ws.onerror = j;
    });
    return new Page(ws);
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const id = ++this.#id;
      this.#wait.set(
        id,
        (m) => m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result ?? {}),
      );
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  on(l: (method: string, params: Record<string, unknown>) => void): void {
    this.#listeners.push(l);
  }

  /** The value of a JavaScript expression in the page. */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    return (r.result as { value: T }).value;
  }

  async screenshot(): Promise<Uint8Array> {
    const r = await this.send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(String(r.data ?? "")), (c) => c.charCodeAt(0));
  }

  close(): void {
    this.#ws.close();
  }
}

/** A headless chromium whose NSS database holds cert/key and which presents it to `origin`. */
export class Chromium {
  #child: Deno.ChildProcess;
  #port: string;
  readonly pages: Page[] = [];

  private constructor(child: Deno.ChildProcess, port: string) {
    this.#child = child;
    this.#port = port;
  }

  static async start(
    dir: string,
    o: { cert: string; key: string; origin: string; url: string },
  ): Promise<Chromium> {
    const home = `${dir}/home`, profile = `${dir}/profile`;
    await Deno.mkdir(`${home}/.pki/nssdb`, { recursive: true });
    await Deno.mkdir(`${profile}/Default`, { recursive: true });
    await Deno.writeTextFile(`${dir}/b.crt`, o.cert);
    await Deno.writeTextFile(`${dir}/b.key`, o.key);
    const db = `sql:${home}/.pki/nssdb`;
    for (
      const [cmd, args] of [
        ["certutil", ["-d", db, "-N", "--empty-password"]],
        ["openssl", [
          "pkcs12",
          "-export",
          "-in",
          `${dir}/b.crt`,
          "-inkey",
          `${dir}/b.key`,
          "-out",
          `${dir}/b.p12`,
          "-passout",
          "pass:",
        ]],
        ["pk12util", ["-i", `${dir}/b.p12`, "-d", db, "-W", ""]],
      ] as const
    ) {
      const r = await run(cmd, [...args]);
      if (r.code !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    }
    const prefs = {
      profile: {
        content_settings: {
          exceptions: { auto_select_certificate: { [`${o.origin},*`]: { setting: { filters: [{}] } } } },
        },
      },
    };
    await Deno.writeTextFile(`${profile}/Default/Preferences`, JSON.stringify(prefs));
    const child = new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        `--user-data-dir=${profile}`,
        "--ignore-certificate-errors",
        "--remote-debugging-port=0",
        "--window-size=1280,900",
        o.url,
      ],
      env: { HOME: home, TMPDIR: dir },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let port = "";
    for (let i = 0; i < 150 && !port; i++) {
      port = await Deno.readTextFile(`${profile}/DevToolsActivePort`).then(
        (t) => t.split("\n")[0] ?? "",
        () => "",
      );
      if (!port) await new Promise((r) => setTimeout(r, 200));
    }
    const browser = new Chromium(child, port);
    if (!port) {
      await browser.close();
      throw new Error("chromium's DevTools endpoint did not come up in 30 s");
    }
    return browser;
  }

  /** The first page (the one opened with the URL), or a new one at url. */
  async page(url?: string): Promise<Page> {
    let target: { webSocketDebuggerUrl: string } | undefined;
    if (url) {
      target = await (await fetch(`http://127.0.0.1:${this.#port}/json/new?${encodeURIComponent(url)}`, {
        method: "PUT",
      })).json();
    } else {
      for (let i = 0; i < 50 && !target; i++) {
        const list = await (await fetch(`http://127.0.0.1:${this.#port}/json/list`)).json();
        target = list.find((t: { type: string }) => t.type === "page");
        if (!target) await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (!target) throw new Error("chromium has no page");
    const p = await Page.open(target.webSocketDebuggerUrl);
    this.pages.push(p);
    return p;
  }

  async close(): Promise<void> {
    for (const p of this.pages) p.close();
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#child.status;
  }
}
