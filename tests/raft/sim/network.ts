/**
 * The simulated network between members: it loses, delays (and so reorders) and duplicates
 * messages, and cuts links in one direction or both. Clients reach members directly: a member
 * cut off from its peers still hears its clients, which is what exposes a stale leader.
 * @module
 */
import type { NodeId } from "../../../lib/raft/types.ts";
import type { Rng } from "../../../lib/util/rng.ts";

export interface NetParams {
  /** Chance that a message is lost. */
  drop: number;
  /** Chance that a message is delivered twice. */
  duplicate: number;
  /** Ordinary one-way delay, uniform in [minDelay, maxDelay] ms. */
  minDelay: number;
  maxDelay: number;
  /** Chance that a message is held back up to `slowDelay` ms, overtaken by later ones. */
  slow: number;
  slowDelay: number;
}

export class Network {
  private cut = new Set<number>();

  constructor(readonly params: NetParams) {}

  private static link(from: NodeId, to: NodeId): number {
    return from * 1024 + to;
  }

  /** Cuts from → to only: `to` stops hearing `from`. */
  cutOneWay(from: NodeId, to: NodeId): void {
    this.cut.add(Network.link(from, to));
  }

  /** Cuts every link between the two sides, both ways. */
  partition(a: NodeId[], b: NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cutOneWay(x, y);
        this.cutOneWay(y, x);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.size > 0 && this.cut.has(Network.link(from, to));
  }

  get cuts(): number {
    return this.cut.size;
  }

  /** The delays after which a message sent now arrives: none (lost), one, or two (duplicated). */
  route(rng: Rng, from: NodeId, to: NodeId): number[] {
    if (this.isCut(from, to)) return [];
    const p = this.params;
    if (p.drop > 0 && rng.chance(p.drop)) return [];
    const delay = () =>
      p.slow > 0 && rng.chance(p.slow)
        ? rng.between(p.minDelay, p.slowDelay)
        : rng.between(p.minDelay, p.maxDelay);
    if (p.duplicate > 0 && rng.chance(p.duplicate)) return [delay(), delay()];
    return [delay()];
  }
}
