/**
 * Cluster-wide changes of pools and networks: every member does its own part (a directory, a
 * bridge), all or nothing. The member that got the request runs the change; the others get
 * their part through a member call. Shared by storage.ts and networks.ts.
 */
import { allMembers, callMember, type MemberCall, type Participant, runParts } from "../../cluster/mod.ts";
import type { MemberPart } from "../../wire/mod.ts";
import type { ServerContext } from "../context.ts";

type Own = Record<string, string>;

/** One step of a cluster-wide change: what each member does, with which config. */
export interface PartStep {
  action: MemberPart["action"];
  config: (member: string) => Own;
}

/**
 * Runs `step` on every member (this one in process, `local`), or on the members named in
 * `only`. When one fails, `undo` runs where the step succeeded (notify.ts) and the failure is
 * thrown. Returns each member's own keys as its part resolved them, by member name.
 * Standalone: this member only.
 */
export async function onEveryMember(
  ctx: ServerContext,
  call: MemberCall<MemberPart, { config: Own }>,
  req: { name: string; driver?: string; only?: string[] },
  step: PartStep,
  undo: PartStep | null,
  local: (action: MemberPart["action"], config: Own) => Promise<Own>,
): Promise<Map<string, Own>> {
  const cluster = ctx.cluster;
  if (!cluster || !ctx.clustered()) {
    return new Map([[ctx.location(), await local(step.action, step.config(ctx.location()))]]);
  }
  const peers = (await allMembers(cluster.self, cluster.heartbeats))
    .filter((p) => req.only === undefined || req.only.includes(p.name));
  const part = { name: req.name, ...(req.driver === undefined ? {} : { driver: req.driver }) };
  const remote = (s: PartStep) => async (client: Parameters<typeof callMember>[0], p: Participant) =>
    (await callMember(
      client,
      call,
      { ...part, action: s.action, config: s.config(p.name) },
      AbortSignal.timeout(60_000),
    ))
      .config;
  const me = ctx.location();
  return await runParts(cluster.self, peers, {
    local: () => local(step.action, step.config(me)),
    remote: remote(step),
    undoLocal: async () => void (undo && await local(undo.action, undo.config(me))),
    undoRemote: async (client, p) => void (undo && await remote(undo)(client, p)),
  });
}

/** Runs one change at a time per key on this member (LXD's storagePoolCreateLock and the like). */
export class KeyedLock {
  #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.#tails.set(key, next);
    try {
      return await next;
    } finally {
      if (this.#tails.get(key) === next) this.#tails.delete(key);
    }
  }
}
