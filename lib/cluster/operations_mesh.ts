import type { GlobalDB } from "../db/mod.ts";
import { memberNameAt } from "./route_rows.ts";
import type { RemoteOperations } from "../operations/mod.ts";
import type { KeyPair } from "../tls/mod.ts";
import type { MemberClients } from "./connect.ts";
import { errorMessage, StatusError } from "../util/mod.ts";
import { callMember, MEMBER_CALLS } from "./member_calls.ts";

/** What the mesh needs of its member. */
export interface OperationsMeshOptions {
  db: GlobalDB;
  tls: () => KeyPair | null;
  /** This member's cluster address ("" while standalone). */
  address: () => string;
  /** The member's clients to the others (shared: the member resets them when its certificate changes). */
  clients: MemberClients;
  /**
   * Sends a request to the member at address over its tunnel (proxy.ts tunnelRequest): null when
   * it has none. Without it, or when it gives null, the member's client is used.
   */
  tunnel?: (
    address: string,
    method: string,
    pathAndQuery: string,
    signal: AbortSignal,
  ) => Promise<Response | null>;
  /** Calls back when operation id is ended here as failed, its member gone (relayed_operations.ts). */
  whenFailed?: (id: string, cb: (why: string) => void) => () => void;
}

/** How long a member has to say whether it has an operation. */
const ASK_TIMEOUT_MS = 5_000;
/** Owners remembered (an operation lives seconds to minutes; a few hundred cover the clients waiting). */
const OWNERS_MAX = 1_024;

/**
 * Other members' operations, reached over the cluster certificate as LXD does: a list asks every
 * member for its own, and a request about one operation goes to the member that has it. Which
 * member has it is asked of all of them at once (operations are in memory, as in LXD, so there
 * is no table to look it up in) and remembered for the waits and cancels that follow.
 * Members answer other members with their own operations only (identity "cluster"), so no
 * request is passed on twice.
 */
export class OperationsMesh implements RemoteOperations {
  #o: OperationsMeshOptions;
  #tls: KeyPair | null = null;
  #owners = new Map<string, string>();

  constructor(o: OperationsMeshOptions) {
    this.#o = o;
  }

  /** Addresses of the other members (none while standalone). */
  #others(): string[] {
    const tls = this.#o.tls();
    if (tls !== this.#tls) {
      this.#owners.clear();
      this.#tls = tls;
    }
    const self = this.#o.address();
    if (!tls || self === "") return [];
    try {
      return this.#o.db.readStale((tx) => tx.query<{ address: string }>("SELECT address FROM nodes"))
        .map((n) => n.address).filter((a) => a !== "" && a !== self);
    } catch {
      return [];
    }
  }

  async list(pathAndQuery: string, signal?: AbortSignal): Promise<Record<string, unknown[]>[]> {
    const answers = await Promise.allSettled(
      this.#others().map(async (address) => {
        const r = await this.#o.clients.get(address).request<Record<string, unknown[]>>("GET", pathAndQuery, {
          signal: AbortSignal.any(
            [signal, AbortSignal.timeout(ASK_TIMEOUT_MS)].filter((s) => s !== undefined),
          ),
        });
        return r.metadata ?? {};
      }),
    );
    // A member that is down has no operations anyone can wait for: list the others', as LXD.
    return answers.flatMap((a) => a.status === "fulfilled" ? [a.value] : []);
  }

  async forward(
    id: string,
    method: string,
    pathAndQuery: string,
    signal?: AbortSignal,
  ): Promise<Response | null> {
    const others = this.#others();
    let owner = this.#owners.get(id);
    if (!owner || !others.includes(owner)) {
      owner = await this.#find(id, others, signal);
      if (!owner) return null;
    }
    let res: Response | null = null;
    // A member that froze closes nothing: the wait ends when the operation is failed here.
    const gone = new AbortController();
    let why = "";
    const unwatch = this.#o.whenFailed?.(id, (w) => {
      why = w;
      gone.abort();
    });
    const both = signal ? AbortSignal.any([signal, gone.signal]) : gone.signal;
    try {
      res = await this.#o.tunnel?.(owner, method, pathAndQuery, both) ?? null;
      if (!res) {
        const r = await this.#o.clients.get(owner).raw(method, pathAndQuery, { signal: both });
        res = new Response(JSON.stringify(r.envelope), {
          status: r.status,
          headers: { "Content-Type": "application/json" },
        });
      }
    } catch (e) {
      if (why !== "") throw new StatusError(503, why);
      if (e instanceof StatusError || signal?.aborted) throw e;
      // The member died under a wait (or before): the client hears which, not a 500.
      throw new StatusError(
        503,
        `Cluster member "${this.#nameOf(owner)}" (${owner}) that has the operation is unreachable: ${
          errorMessage(e)
        }`,
      );
    } finally {
      unwatch?.();
    }
    if (res.status === 404) this.#owners.delete(id);
    return res;
  }

  #nameOf(address: string): string {
    try {
      return this.#o.db.readStale((tx) => memberNameAt(tx, address)) ?? address;
    } catch {
      return address;
    }
  }

  /** Records that the member at address has operation id (a request forwarded there made it). */
  remember(id: string, address: string): void {
    this.#owners.set(id, address);
    if (this.#owners.size > OWNERS_MAX) this.#owners.delete(this.#owners.keys().next().value!);
  }

  /** The address of the member that has operation id (asking them all when not known), or undefined. */
  async owner(id: string, signal?: AbortSignal): Promise<string | undefined> {
    const others = this.#others();
    const known = this.#owners.get(id);
    if (known && others.includes(known)) return known;
    return await this.#find(id, others, signal);
  }

  /** The member that has operation id, asking all of them at once; undefined when none does. */
  async #find(id: string, others: string[], signal?: AbortSignal): Promise<string | undefined> {
    if (others.length === 0) return undefined;
    const ask = AbortSignal.any([signal, AbortSignal.timeout(ASK_TIMEOUT_MS)].filter((s) => s !== undefined));
    const found = await Promise.any(others.map(async (address) => {
      await callMember(this.#o.clients.get(address), MEMBER_CALLS.operation, { id }, ask);
      return address;
    })).catch(() => undefined); // 404 everywhere, or the rest down: nobody has it
    if (found) {
      this.#owners.set(id, found);
      if (this.#owners.size > OWNERS_MAX) this.#owners.delete(this.#owners.keys().next().value!);
    }
    return found;
  }
}
