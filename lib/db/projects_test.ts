import assert from "node:assert/strict";
import { GlobalDB, LocalConsensus } from "./global.ts";
import { GlobalFsm } from "./fsm.ts";
import { updateGlobalSchema } from "./schema_update.ts";
import { ensureStandaloneNode } from "./nodes.ts";
import { createInstance } from "./instances.ts";
import {
  createProject,
  deleteProject,
  getProject,
  listProjects,
  newProjectConfig,
  projectConfigProblem,
  projectNameProblem,
  renameProject,
  updateProject,
} from "./projects.ts";
import { projectState, targetProblem } from "./project_limits.ts";
import { featureProject } from "./project_rows.ts";
import { updateProfile } from "./profiles.ts";
import { createPool } from "./storage_pools.ts";
import { createCustomVolume, updateCustomVolume } from "./volumes.ts";
import { StatusError } from "../util/mod.ts";

async function fresh() {
  const dir = await Deno.makeTempDir();
  const fsm = new GlobalFsm(`${dir}/db.sqlite`);
  const db = new GlobalDB(fsm, new LocalConsensus(fsm));
  await db.run(updateGlobalSchema, {});
  await db.run(ensureStandaloneNode, { arch: "x86_64", apiExtensions: 1 });
  return {
    db,
    async [Symbol.asyncDispose]() {
      fsm.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function refused(p: Promise<unknown>, status: number, text: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof StatusError, String(e));
    assert.equal(e.status, status, e.message);
    assert.match(e.message, text);
    return true;
  });
}

Deno.test("the default project has every feature and can be neither renamed nor deleted", async () => {
  await using f = await fresh();
  const p = await f.db.read((tx) => getProject(tx, "default"));
  assert.equal(p.config["features.images"], "true");
  assert.equal(p.config["features.networks"], "true");
  assert.deepEqual(p.used_by, ["/1.0/profiles/default"]);
  await refused(f.db.run(deleteProject, { name: "default" }), 403, /'default' project cannot be deleted/);
  await refused(f.db.run(renameProject, { name: "default", newName: "x" }), 403, /cannot be renamed/);
  await refused(
    f.db.run(updateProject, { name: "default", description: "", config: { "features.images": "false" } }),
    400,
    /can't change the features of the default project/,
  );
});

Deno.test("a new project gets LXD's default features and its own default profile", async () => {
  await using f = await fresh();
  await f.db.run(createProject, {
    name: "p1",
    description: "team",
    config: newProjectConfig({ "features.images": "false" }),
  });
  const p = await f.db.read((tx) => getProject(tx, "p1"));
  assert.deepEqual(p.config, {
    "features.images": "false",
    "features.profiles": "true",
    "features.storage.volumes": "true",
  });
  assert.deepEqual(p.used_by, ["/1.0/profiles/default?project=p1"]);
  assert.equal((await f.db.read((tx) => featureProject(tx, "p1", "images"))).name, "default");
  assert.equal((await f.db.read((tx) => featureProject(tx, "p1", "profiles"))).name, "p1");
  await refused(
    f.db.run(createProject, { name: "p1", description: "", config: {} }),
    409,
    /A project named "p1" already exists/,
  );
  assert.deepEqual((await f.db.read(listProjects)).map((x) => x.name), ["default", "p1"]);
});

Deno.test("names and config are checked with LXD's texts", () => {
  assert.equal(projectNameProblem("a_b"), "Project names may not contain underscores");
  assert.equal(projectNameProblem("a/b"), "Project names may not contain slashes");
  assert.equal(projectNameProblem(""), "No name provided");
  assert.equal(projectNameProblem("ok-1"), null);
  assert.equal(projectConfigProblem({ foo: "1" }), 'Invalid project configuration key "foo"');
  assert.match(projectConfigProblem({ "limits.memory": "lots" })!, /limits.memory" value/);
  assert.equal(projectConfigProblem({ "user.x": "anything", "limits.memory": "1GiB" }), null);
});

Deno.test("a project holding an instance cannot be deleted, renamed or lose a feature; limits below use are refused", async () => {
  await using f = await fresh();
  await f.db.run(createProject, { name: "p1", description: "", config: newProjectConfig({}) });
  await f.db.run(createInstance, {
    name: "c1",
    project: "p1",
    architecture: "x86_64",
    type: "container",
    ephemeral: false,
    description: "",
    profiles: ["default"],
    config: { "limits.memory": "64MiB" },
    devices: {},
    member: "none",
  });
  await refused(f.db.run(deleteProject, { name: "p1" }), 400, /^Only empty projects can be removed$/);
  await refused(
    f.db.run(renameProject, { name: "p1", newName: "p2" }),
    400,
    /Only empty projects can be renamed/,
  );
  const cfg = (await f.db.read((tx) => getProject(tx, "p1"))).config;
  await refused(
    f.db.run(updateProject, {
      name: "p1",
      description: "",
      config: { ...cfg, "features.profiles": "false" },
    }),
    400,
    /"features.profiles" cannot be disabled on non-empty projects/,
  );
  await refused(
    f.db.run(updateProject, { name: "p1", description: "", config: { ...cfg, "limits.instances": "0" } }),
    400,
    /"limits.instances" is too low: there currently are 1 total instances/,
  );
  await refused(
    f.db.run(updateProject, { name: "p1", description: "", config: { ...cfg, "limits.memory": "32MiB" } }),
    400,
    /"limits.memory" is too low/,
  );
  await f.db.run(updateProject, { name: "p1", description: "", config: { ...cfg, "limits.memory": "1GiB" } });
  const st = await f.db.read((tx) => projectState(tx, "p1"));
  assert.deepEqual(st.memory, { limit: 1024 ** 3, usage: 64 * 1024 ** 2 });
  assert.deepEqual(st.instances, { limit: -1, usage: 1 });
});

Deno.test("aggregate limits sum what profiles give, and a profile change that would pass them is refused", async () => {
  await using f = await fresh();
  await f.db.run(createProject, {
    name: "p1",
    description: "",
    config: newProjectConfig({ "limits.cpu": "3", "limits.processes": "100", "limits.disk": "1GiB" }),
  });
  // The project's own default profile gives every instance its cpu, processes and root disk.
  await f.db.run(updateProfile, {
    name: "default",
    project: "p1",
    description: "",
    config: { "limits.cpu": "1", "limits.processes": "40" },
    devices: { root: { type: "disk", path: "/", pool: "default", size: "400MiB" } },
  });
  const launch = (name: string, config: Record<string, string> = {}) =>
    f.db.run(createInstance, {
      name,
      project: "p1",
      architecture: "x86_64",
      type: "container",
      ephemeral: false,
      description: "",
      profiles: ["default"],
      config,
      devices: {},
      member: "none",
    });
  await launch("a");
  await launch("b", { "limits.cpu": "0-1" }); // a set counts its CPUs: 2
  await refused(launch("c"), 400, /Reached maximum aggregate value "3" for "limits.cpu" in project "p1"/);
  await refused(
    f.db.run(updateProfile, {
      name: "default",
      project: "p1",
      description: "",
      config: { "limits.cpu": "1", "limits.processes": "60" },
      devices: { root: { type: "disk", path: "/", pool: "default", size: "400MiB" } },
    }),
    400,
    /"limits.processes" in project "p1"/,
  );
  const st = await f.db.read((tx) => projectState(tx, "p1"));
  assert.deepEqual([st.cpu!.usage, st.processes!.usage, st.disk!.usage], [3, 80, 800 * 1024 ** 2]);
  assert.equal((await f.db.read((tx) => listProjects(tx))).length, 2);
});

Deno.test("a restricted project places instances only where its groups and target rule allow", async () => {
  await using f = await fresh();
  await f.db.run(createProject, {
    name: "r",
    description: "",
    config: newProjectConfig({ restricted: "true", "restricted.cluster.groups": "g1" }),
  });
  const problem = (target: string, restrictedCaller: boolean) =>
    f.db.read((tx) => targetProblem(tx, "r", target, restrictedCaller));
  assert.equal(await problem("none", true), "This project doesn't allow cluster member targeting");
  assert.equal(await problem("none", false), "Project isn't allowed to use this cluster member");
  assert.equal(await problem("@default", false), "Project isn't allowed to use this cluster group");
  assert.equal(await problem("@g1", false), null);
  assert.equal(await f.db.read((tx) => targetProblem(tx, "default", "none", true)), null);
});

Deno.test("a restricted project refuses forbidden devices and low-level keys in the write itself", async () => {
  await using f = await fresh();
  await f.db.run(createProject, {
    name: "r",
    description: "",
    config: newProjectConfig({ restricted: "true", "features.profiles": "false" }),
  });
  const launch = (
    name: string,
    config: Record<string, string>,
    devices: Record<string, Record<string, string>>,
  ) =>
    f.db.run(createInstance, {
      name,
      project: "r",
      architecture: "x86_64",
      type: "container",
      ephemeral: false,
      description: "",
      profiles: ["default"],
      config,
      devices,
      member: "none",
    });
  await refused(launch("a", {}, { g: { type: "gpu" } }), 400, /gpu devices are forbidden/);
  await refused(
    launch("b", {}, { h: { type: "disk", source: "/etc", path: "/mnt" } }),
    400,
    /Disk devices with a host path source are forbidden/,
  );
  await refused(
    launch("c", { "raw.lxc": "lxc.apparmor.profile=unconfined" }, {}),
    400,
    /"raw.lxc" is forbidden/,
  );
  await launch("d", {}, { v: { type: "disk", pool: "default", source: "v", path: "/mnt" } });
  const cfg = (await f.db.read((tx) => getProject(tx, "r"))).config;
  await f.db.run(updateProject, {
    name: "r",
    description: "",
    config: { ...cfg, "restricted.devices.gpu": "allow", "restricted.containers.lowlevel": "allow" },
  });
  await launch("a", { "raw.lxc": "lxc.apparmor.profile=unconfined" }, { g: { type: "gpu" } });
  // Taking an allowance back while an instance uses it is refused.
  await refused(f.db.run(updateProject, { name: "r", description: "", config: cfg }), 400, /forbidden/);
});

Deno.test("custom volumes count against limits.disk in the write that makes or grows them", async () => {
  await using f = await fresh();
  await f.db.run(createPool, { name: "default", driver: "dir", description: "", config: {}, member: "none" });
  await f.db.run(createProject, {
    name: "p",
    description: "",
    config: newProjectConfig({ "limits.disk": "1GiB" }),
  });
  const volume = (name: string, config: Record<string, string>) =>
    f.db.run(createCustomVolume, {
      pool: "default",
      name,
      description: "",
      config,
      member: "none",
      project: "p",
    });
  await volume("a", { size: "512MiB" });
  await refused(
    volume("b", { size: "600MiB" }),
    400,
    /Reached maximum aggregate value "1GiB" for "limits.disk"/,
  );
  await refused(volume("c", {}), 400, /Custom volume "c" in project "p" has no 'size' set/);
  await refused(
    f.db.run(updateCustomVolume, {
      pool: "default",
      name: "a",
      member: "none",
      description: "",
      config: { size: "2GiB" },
      project: "p",
    }),
    400,
    /limits.disk/,
  );
  assert.equal((await f.db.read((tx) => projectState(tx, "p"))).disk!.usage, 512 * 1024 ** 2);
  // default's volumes do not count against p's limit.
  await f.db.run(createCustomVolume, {
    pool: "default",
    name: "big",
    description: "",
    config: { size: "5GiB" },
    member: "none",
  });
});
