import assert from "node:assert/strict";
import {
  evacuationTarget,
  instanceAction,
  modeProblem,
  type QuorumMember,
  quorumProblem,
} from "./evacuate_plan.ts";

const root = { root: { type: "disk", path: "/", pool: "default" } };

Deno.test("instanceAction(): the request's mode, then cluster.evacuate, then auto by the devices", () => {
  const c = (config: Record<string, string>, devices: Record<string, Record<string, string>> = root) => ({
    config,
    devices,
  });
  assert.equal(instanceAction(c({}), ""), "migrate");
  assert.equal(instanceAction(c({ "cluster.evacuate": "stop" }), ""), "stop");
  assert.equal(instanceAction(c({ "cluster.evacuate": "stop" }), "migrate"), "migrate");
  assert.equal(instanceAction(c({ "cluster.evacuate": "migrate" }), "stop"), "stop");
  assert.equal(instanceAction(c({ "cluster.evacuate": "live-migrate" }), ""), "migrate");
  // auto: a disk from a host path or a device of the host ties it to its member
  const hostDisk = { ...root, data: { type: "disk", path: "/data", source: "/srv/data" } };
  assert.equal(instanceAction(c({}, hostDisk), ""), "stop");
  assert.equal(
    instanceAction(c({ "cluster.evacuate": "auto" }, { ...root, g: { type: "gpu" } }), ""),
    "stop",
  );
  const volume = { ...root, data: { type: "disk", path: "/data", source: "vol1", pool: "default" } };
  assert.equal(instanceAction(c({}, volume), ""), "migrate");
});

Deno.test("modeProblem(): LXD's modes only", () => {
  for (const m of [undefined, "", "auto", "stop", "migrate", "live-migrate"]) {
    assert.equal(modeProblem(m), null);
  }
  assert.equal(modeProblem("heal"), 'Invalid evacuation mode: "heal"');
  assert.equal(modeProblem(3), "Invalid evacuation mode: 3");
});

function q(name: string, role: QuorumMember["role"], o: Partial<QuorumMember> = {}): QuorumMember {
  return { name, role, online: true, evacuated: false, ...o };
}

Deno.test("quorumProblem(): a vote may leave while the others keep a majority or a replacement stands by", () => {
  const three = [q("m1", "voter"), q("m2", "voter"), q("m3", "voter")];
  assert.equal(quorumProblem(three, "m2"), null);
  const m3down = [q("m1", "voter"), q("m2", "voter"), q("m3", "voter", { online: false })];
  assert.equal(quorumProblem(m3down, "m2"), "Insufficient online voters to maintain quorum");
  // a stand-by can take the seat first while a majority is up
  assert.equal(quorumProblem([...m3down, q("m4", "standby")], "m2"), null);
  // an evacuated stand-by is no replacement
  assert.equal(
    quorumProblem([...m3down, q("m4", "standby", { evacuated: true })], "m2"),
    "Insufficient online voters to maintain quorum",
  );
  // two members: the one voter cannot leave (nobody votes after it)
  assert.equal(
    quorumProblem([q("m1", "voter"), q("m2", "standby")], "m1"),
    "Insufficient online voters to maintain quorum",
  );
  // stand-bys, spares, offline and already evacuated members hold no vote that counts
  assert.equal(quorumProblem([q("m1", "voter"), q("m2", "standby")], "m2"), null);
  assert.equal(quorumProblem(m3down, "m3"), null);
});

Deno.test("evacuationTarget(): the least loaded online member that is not evacuated, within the group", () => {
  const t = (
    name: string,
    instances: number,
    o: { online?: boolean; evacuated?: boolean; groups?: string[] } = {},
  ) => ({
    name,
    instances,
    online: o.online ?? true,
    evacuated: o.evacuated ?? false,
    groups: o.groups ?? ["default"],
  });
  const ms = [
    t("m1", 3),
    t("m2", 0),
    t("m3", 1),
    t("m4", 0, { online: false }),
    t("m5", 0, { evacuated: true }),
  ];
  assert.equal(evacuationTarget(ms, "m2", null), "m3");
  assert.equal(evacuationTarget(ms, "m3", null), "m2");
  assert.equal(evacuationTarget([...ms, t("m6", 9, { groups: ["gpu"] })], "m2", "gpu"), "m6");
  assert.equal(evacuationTarget(ms, "m2", "gpu"), null);
});
