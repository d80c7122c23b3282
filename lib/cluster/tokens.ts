import { globalValue, listNodes, readGlobalConfig } from "../db/mod.ts";
import type { Operations } from "../operations/mod.ts";
import { badRequest, forbidden, parseExpiry, StatusError } from "../util/mod.ts";
import type { JoinToken } from "../wire/mod.ts";
import { randomSecret, secretsEqual } from "../wire/tokens.ts";
import type { Heartbeats } from "./heartbeat.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";
import { checkMemberName } from "./members.ts";
import type { Self } from "./self.ts";

/** How long a trusted joiner may take to ask for its acceptance. */
const JOINER_TTL_MS = 10 * 60_000;

/**
 * Join tokens (LXD's "Cluster join token" operations): issued by any member, kept as an
 * operation of the member that issued it, used up once by the joiner wherever it was issued.
 */
export class JoinTokens {
  #self: Self;
  #operations: Operations;
  #heartbeats: Heartbeats;
  /** Joiners trusted here and not accepted yet: by name, their certificate and secret. */
  #trusted = new Map<string, { fingerprint: string; secret: string; at: number }>();

  constructor(self: Self, operations: Operations, heartbeats: Heartbeats) {
    this.#self = self;
    this.#operations = operations;
    this.#heartbeats = heartbeats;
  }

  /** POST /1.0/cluster/members: a single-use join token for a member to be called name. */
  async issue(name: string): Promise<Record<string, unknown>> {
    const self = this.#self;
    if (!self.clustered()) throw badRequest("This server is not clustered");
    if (name === "none") throw badRequest('Join token name cannot be "none"');
    checkMemberName(name);
    const nodes = await self.db.read(listNodes);
    if (nodes.some((n) => n.name === name)) {
      throw badRequest(`The cluster already has a member with name: ${name}`);
    }
    // Asking again for a name replaces the older token.
    for (const op of this.#pending()) if (op.metadata?.serverName === name) op.cancel();
    const config = await self.db.read(readGlobalConfig);
    const expiry = parseExpiry(globalValue(config, "cluster.join_token_expiry"));
    const addresses = [self.address(), ...nodes.map((n) => n.address).filter((a) => a !== self.address())];
    const meta = {
      serverName: name,
      secret: randomSecret(),
      fingerprint: self.fingerprint,
      addresses: addresses.filter((a) => this.#heartbeats.isOnline(a)),
      expiresAt: new Date(Date.now() + expiry).toISOString(),
      kind: "join",
    };
    const op = this.#operations.create({
      class: "token",
      description: "Cluster join token",
      metadata: meta,
    });
    self.events.lifecycle("cluster-token-created", `/1.0/operations/${op.id}`);
    return op.toJSON() as unknown as Record<string, unknown>;
  }

  /**
   * Remembers a joiner this member has just trusted (POST /1.0/certificates with a join token or
   * the trust password): the accept that follows must come from the same certificate, under the
   * same name, with the same secret, within JOINER_TTL_MS.
   */
  trusted(name: string, fingerprint: string, secret: string): void {
    const now = Date.now();
    for (const [n, t] of this.#trusted) if (now - t.at > JOINER_TTL_MS) this.#trusted.delete(n);
    this.#trusted.set(name, { fingerprint, secret, at: now });
  }

  /** Whether trusted() remembers this joiner with this secret (without using it up). */
  hasTrusted(name: string, fingerprint: string, secret: string): boolean {
    const t = this.#trusted.get(name);
    return !!t && Date.now() - t.at <= JOINER_TTL_MS && t.fingerprint === fingerprint &&
      secretsEqual(t.secret, secret);
  }

  /** Uses up what trusted() remembered; false when the joiner, its name or its secret do not match. */
  consumeTrusted(name: string, fingerprint: string, secret: string): boolean {
    const t = this.#trusted.get(name);
    if (!t || Date.now() - t.at > JOINER_TTL_MS) return false;
    if (t.fingerprint !== fingerprint || !secretsEqual(t.secret, secret)) return false;
    this.#trusted.delete(name);
    return true;
  }

  #pending() {
    return this.#operations.list("default").filter((op) =>
      op.spec.class === "token" && op.status === "Running" && op.metadata?.kind === "join"
    );
  }

  /**
   * Uses up a join token presented by a joiner (POST /1.0/certificates). The token may have been
   * issued by any member: look here first, then ask the others.
   */
  async redeem(token: JoinToken, askOthers = true): Promise<void> {
    for (const op of this.#pending()) {
      const m = op.metadata ?? {};
      if (m.serverName !== token.server_name || typeof m.secret !== "string") continue;
      if (!secretsEqual(m.secret, token.secret)) continue;
      op.cancel();
      if (Date.now() > Date.parse(String(m.expiresAt))) {
        throw new StatusError(500, "Failed during search for join token operation: Token has expired");
      }
      return;
    }
    const self = this.#self;
    if (askOthers && self.clustered()) {
      const nodes = (await self.db.warm(listNodes)).filter((n) => n.address !== self.address());
      for (const n of nodes) {
        try {
          await callMember(
            self.clients.get(n.address),
            MEMBER_CALLS.redeemToken,
            token,
            AbortSignal.timeout(5_000),
          );
          return;
        } catch (e) {
          if (e instanceof StatusError && e.status === 500) throw e;
        }
      }
    }
    throw forbidden("No matching cluster join operation found");
  }
}
