/**
 * What a member does with its instances when its daemon starts: containers kept running while
 * the daemon was away are found again by liblxc; those that should run (boot.autostart, or
 * last left running) are started. It takes the manager by the little it uses, so that the
 * manager can call it without an import circle.
 */
import { type GlobalDB, type InstanceRecord, listInstances } from "../db/mod.ts";
import type { Logger } from "../log/mod.ts";
import { errorMessage, StatusError } from "../util/mod.ts";
import { isTrue } from "./config.ts";
import type { LxcDriver } from "./lxc.ts";

/** The part of InstanceManager that startup uses. */
export interface Instances {
  readonly db: GlobalDB;
  readonly lxc: LxcDriver;
  in(project: string): { key(name: string): string; start(name: string): Promise<void> };
}

/** Whether an instance should run after a start of the daemon (LXD's boot.autostart rules). */
export function wantsRunning(rec: InstanceRecord): boolean {
  const auto = rec.config["boot.autostart"];
  return auto !== undefined ? isTrue(auto) : rec.config["volatile.last_state.power"] === "RUNNING";
}

/** Starts this member's stopped instances that should run; a failure is logged, not thrown. */
export async function startInstances(
  m: Instances,
  member: string,
  log: Logger,
  refuse?: () => string | null,
): Promise<void> {
  // An evacuated or fenced member starts nothing; restore (or the cluster's return) does.
  const why = refuse?.();
  if (why) return log.info("Not starting instances", { reason: why });
  const mine = await m.db.read((tx) => listInstances(tx, member, null)).catch(() => []);
  for (const rec of mine) {
    const pm = m.in(rec.project);
    const st = await m.lxc.state(pm.key(rec.name));
    if (st.state !== "STOPPED") continue;
    if (!wantsRunning(rec)) continue;
    try {
      await pm.start(rec.name);
    } catch (e) {
      log.error("Failed to start instance", { instance: rec.name, err: errorMessage(e) });
    }
  }
}

/** LXD's 403 when this member may start or create nothing now (evacuated, fenced). */
export function checkMayStart(o: { refuseStart?: () => string | null }): void {
  const refused = o.refuseStart?.();
  if (refused) throw new StatusError(403, refused);
}
