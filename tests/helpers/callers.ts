/**
 * Callers of a member over mutual TLS for trust tests: a certificate of each kind (untrusted,
 * client, restricted, another member's own, the cluster's), each pinned to the member's served
 * certificate, answering raw statuses so that nothing of our client smooths what comes back.
 */
// @ts-types="@types/ws"
import WS from "ws";
import { HttpsTransport, pinnedIdentity } from "../../lib/client/mod.ts";
import { fingerprint, generateKeyPair, type KeyPair } from "../../lib/tls/mod.ts";
import type { Member } from "./member.ts";

/** A new client certificate (not trusted by anyone yet). */
export function newCert(cn: string): Promise<KeyPair> {
  return generateKeyPair({ cn, kind: "client" });
}

/** Trusts a certificate on m through its unix socket (restricted with projects when given). */
export async function trust(
  m: Member,
  name: string,
  cert: KeyPair,
  o: { restricted?: boolean; projects?: string[] } = {},
): Promise<void> {
  await m.client().request("POST", "/1.0/certificates", {
    body: {
      name,
      type: "client",
      certificate: cert.cert,
      restricted: o.restricted ?? false,
      projects: o.projects ?? [],
    },
  });
}

/** A caller with one certificate, against one member's HTTPS address. */
export class Caller {
  readonly transport: HttpsTransport;
  constructor(readonly address: string, readonly served: string, readonly cert: KeyPair | undefined) {
    this.transport = new HttpsTransport({
      kind: "https",
      url: `https://${address}`,
      serverCert: served,
      clientCert: cert,
    });
  }

  /** The status and body of one request. */
  async send(
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; text: string }> {
    const h = body === undefined ? headers : { "Content-Type": "application/json", ...headers };
    const r = await this.transport.request(method, path, body, h, AbortSignal.timeout(20_000));
    return { status: r.status, text: r.text };
  }

  /** Tries a websocket: the HTTP status of a refusal, or 101 when it opened (then closed). */
  async upgrade(path: string): Promise<{ status: number; ws: WS | null }> {
    const pin = await fingerprint(this.served);
    return await new Promise((resolve) => {
      const ws = new WS(`wss://${this.address}${path}`, {
        ca: this.served,
        cert: this.cert?.cert,
        key: this.cert?.key,
        checkServerIdentity: pinnedIdentity(pin),
        handshakeTimeout: 10_000,
      } as unknown as WS.ClientOptions);
      ws.on("open", () => resolve({ status: 101, ws }));
      ws.on("unexpected-response", (_req: unknown, res: { statusCode?: number }) => {
        resolve({ status: res.statusCode ?? 0, ws: null });
        ws.terminate();
      });
      ws.on("error", () => resolve({ status: 0, ws: null }));
    });
  }

  close(): void {
    this.transport.close();
  }
}
