import assert from "node:assert/strict";
import type { InstanceRecord } from "../db/mod.ts";
import { wantsRunning } from "./startup.ts";

Deno.test("an instance runs again after a daemon start by boot.autostart, else as it was left", () => {
  const rec = (config: Record<string, string>) => ({ config }) as InstanceRecord;
  assert.equal(wantsRunning(rec({})), false);
  assert.equal(wantsRunning(rec({ "volatile.last_state.power": "RUNNING" })), true);
  assert.equal(wantsRunning(rec({ "volatile.last_state.power": "STOPPED" })), false);
  assert.equal(wantsRunning(rec({ "boot.autostart": "true" })), true);
  assert.equal(
    wantsRunning(rec({ "boot.autostart": "false", "volatile.last_state.power": "RUNNING" })),
    false,
  );
});
