import { errorMessage } from "./errors.ts";

/**
 * Undo steps of a change made in several steps (LXD's revert package): each step that changes
 * state adds how to undo it, just before it runs when it can half-happen. If the change fails,
 * `fail()` runs the undo steps newest first; once it succeeded, `success()` drops them.
 *
 * ```ts
 * const revert = new Revert();
 * try {
 *   revert.add("remove the file", () => Deno.remove(path));
 *   await Deno.writeTextFile(path, text);
 *   revert.success();
 * } catch (e) {
 *   await revert.fail((what, err) => log.warn(`Could not ${what}`, { err }));
 *   throw e;
 * }
 * ```
 */
export class Revert {
  #steps: { what: string; undo: () => unknown }[] = [];

  /** Adds an undo step; `what` says what it does, for the report of one that fails. */
  add(what: string, undo: () => unknown): void {
    this.#steps.push({ what, undo });
  }

  /** The change is complete: nothing is undone. */
  success(): void {
    this.#steps = [];
  }

  /**
   * Runs every undo step, newest first. One that fails is reported and the others still run:
   * the most that can be put back is put back.
   */
  async fail(report: (what: string, err: string) => void = () => {}): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const s of steps) {
      try {
        await s.undo();
      } catch (e) {
        report(s.what, errorMessage(e));
      }
    }
  }
}
