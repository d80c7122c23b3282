/** Raft configurations as the driver compares them. */
import type { ConfState } from "../raft/mod.ts";

/** Same members in the same roles (lists compared as sets). */
export const sameConf = (a: ConfState, b: ConfState): boolean =>
  (["voters", "standbys", "spares"] as const).every((k) =>
    a[k].length === b[k].length && a[k].every((id) => b[k].includes(id))
  );
