import { statePaths } from "../../lib/daemon/paths.ts";

/** Whether a daemon answers on this member's socket. */
export async function daemonRunning(): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path: statePaths().socket });
    conn.close();
    return true;
  } catch {
    return false;
  }
}
