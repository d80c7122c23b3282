/**
 * The fence that outlives the daemon. Containers outlive shoald (as LXD's outlive lxd), so a
 * member whose daemon died, or was stopped, would leave them running while the leader heals
 * them elsewhere. While fencing is armed, the daemon keeps a small shell loop beside it, in a
 * session of its own: the daemon touches a stamp file each time it reaches a quorum of voters;
 * once the stamp is older than the fence time the loop kills every container of the member and
 * ends. Fencing disarmed (healing off), the stamp goes and the loop ends by itself.
 */
import { errorMessage } from "../util/mod.ts";
import type { Logger } from "../log/mod.ts";

/** The loop, as `sh -c SCRIPT sh STAMP FENCE_SECONDS LXCPATH`. */
const SCRIPT = `
stamp=$1 fence=$2 lxcpath=$3
while sleep 1; do
  [ -e "$stamp" ] || exit 0
  age=$(( $(date +%s) - $(stat -c %Y "$stamp" 2>/dev/null || echo 0) ))
  [ "$age" -gt "$fence" ] || continue
  for d in "$lxcpath"/*/; do
    [ -f "$d/config" ] && lxc-stop -k -P "$lxcpath" -n "$(basename "$d")" >/dev/null 2>&1
  done
  rm -f "$stamp"
  exit 0
done`;

export class FenceWatchdog {
  #stamp: string;
  #pidFile: string;
  #lxcpath: string;
  #log: Logger;
  #armed = 0;

  constructor(o: { dir: string; lxcpath: string; log: Logger }) {
    this.#stamp = `${o.dir}/fence.stamp`;
    this.#pidFile = `${o.dir}/fence.pid`;
    this.#lxcpath = o.lxcpath;
    this.#log = o.log;
  }

  /** Quorum reached: the loop waits a whole fence time again. */
  touch(): void {
    if (this.#armed === 0) return;
    try {
      const now = new Date();
      Deno.utimeSync(this.#stamp, now, now);
    } catch {
      // the loop fenced and ended (or the file went): start a new one
      this.#armed = 0;
    }
  }

  /**
   * Arms the loop with a fence time (seconds), or disarms it (0). A loop left by an earlier
   * daemon is replaced: the one with the current fence time watches from now on.
   */
  set(seconds: number): void {
    if (seconds === this.#armed) return;
    this.#stopOld();
    this.#armed = seconds;
    if (seconds === 0) {
      try {
        Deno.removeSync(this.#stamp);
      } catch { /* none */ }
      return;
    }
    try {
      Deno.writeTextFileSync(this.#stamp, "");
      const child = new Deno.Command("setsid", {
        args: ["sh", "-c", SCRIPT, "sh", this.#stamp, String(seconds), this.#lxcpath],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      child.unref();
      Deno.writeTextFileSync(this.#pidFile, String(child.pid));
    } catch (e) {
      this.#armed = 0;
      this.#log.error("Could not start the fence watchdog", { err: errorMessage(e) });
    }
  }

  #stopOld(): void {
    try {
      const pid = Number(Deno.readTextFileSync(this.#pidFile).trim());
      // Only our loop: its command line names our stamp file.
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (cmdline.includes(this.#stamp)) Deno.kill(pid, "SIGKILL");
    } catch { /* none left */ }
    try {
      Deno.removeSync(this.#pidFile);
    } catch { /* none */ }
  }
}
