/**
 * Read index requests awaiting confirmation of leadership (Raft thesis §6.4): each records the
 * commit index when it arrived and which voters have answered a heartbeat carrying its ctx.
 * A quorum answering the heartbeat for one request confirms every earlier one too.
 * @module
 */
import type { NodeId } from "./types.ts";

export interface ReadRequest {
  ctx: string;
  /** Commit index at request time. */
  index: number;
  /** Who asked: the leader itself or a follower to answer. */
  from: NodeId;
  acks: Map<NodeId, boolean>;
}

export class ReadOnly {
  private pending = new Map<string, ReadRequest>();
  private queue: string[] = [];

  /** Records a request; a ctx already pending is ignored (ctx must be unique). */
  add(index: number, ctx: string, from: NodeId): boolean {
    if (this.pending.has(ctx)) return false;
    this.pending.set(ctx, { ctx, index, from, acks: new Map() });
    this.queue.push(ctx);
    return true;
  }

  /** Records that `id` answered the heartbeat for `ctx`; the acks so far, or undefined. */
  recvAck(id: NodeId, ctx: string): ReadonlyMap<NodeId, boolean> | undefined {
    const r = this.pending.get(ctx);
    if (!r) return undefined;
    r.acks.set(id, true);
    return r.acks;
  }

  /** Removes and returns every request up to and including `ctx`, oldest first. */
  advance(ctx: string): ReadRequest[] {
    const i = this.queue.indexOf(ctx);
    if (i < 0) return [];
    const done = this.queue.splice(0, i + 1);
    return done.map((c) => {
      const r = this.pending.get(c)!;
      this.pending.delete(c);
      return r;
    });
  }

  lastPendingCtx(): string {
    return this.queue.at(-1) ?? "";
  }

  size(): number {
    return this.queue.length;
  }
}
