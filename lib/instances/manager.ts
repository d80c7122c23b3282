/**
 * The instances of this member: records in the global database, root volumes in a storage
 * pool, containers run by liblxc. Every lifecycle change goes through here, one at a time per
 * instance.
 */
import {
  checkRoomForInstance,
  createInstance,
  createInstanceVolume,
  DEFAULT_PROJECT,
  deleteInstance,
  deleteInstanceVolume,
  type Devices,
  findImage,
  getInstance,
  getPool,
  getProfile,
  type GlobalDB,
  imageProjectId,
  type InstanceRecord,
  listInstances,
  type ProfileRecord,
  projectUrl,
  setInstanceKeys,
  touchImage,
  updateInstance,
  volumeProject,
} from "../db/mod.ts";
import { type ImageMetadata, ImageStore } from "../images/mod.ts";
import { openPool, type StorageDriver } from "../storage/mod.ts";
import { badRequest, conflict, errorMessage, notFound, StatusError } from "../util/mod.ts";
import { expand, isTrue, rootDisk, sortKeys } from "./config.ts";
import { attachTarget, type ExecRequest, type ExecTarget } from "./exec.ts";
import { cgroupVersion, LxcDriver, type LxcState } from "./lxc.ts";
import { applyLimits } from "./limits.ts";
import { InRoot } from "./files.ts";
import { idmapFor, idmapJSON, parseIdmap } from "./idmap.ts";
import { archName } from "./procfs.ts";
import { prepareIdmap } from "./shift.ts";
import { applyTemplates, readMetadata } from "./templates.ts";
import { checkNics, planNics } from "./nic.ts";
import { checkDisks } from "./disks.ts";
import { createRequestProblem, keepVolatile, updateRequestProblem } from "./requests.ts";
import { imageOfSource } from "./image_source.ts";
import { checkMayStart, startInstances } from "./startup.ts";
import { lxcConfigAtStart } from "./start_config.ts";
import { instanceJSON, instanceStateJSON } from "./views.ts";
import { instanceMetrics } from "./metrics.ts";
import type { Family } from "../util/metrics.ts";
import type {
  InstanceJSON,
  InstancesPost,
  InstanceStateJSON,
  ManagerOptions,
  ManagerShared,
  PreparedCreate,
} from "./types.ts";

/**
 * The instances of one project on this member (`in(project)` gives another project's view,
 * sharing the driver, the image store and the per-instance locks). A container outside the
 * default project is PROJECT_NAME on disk and to liblxc, as LXD names it, so that two projects
 * may both hold a "c1".
 */
export class InstanceManager {
  readonly lxc: LxcDriver;
  readonly images: ImageStore;
  readonly project: string;
  #o: ManagerOptions;
  #shared: ManagerShared;

  constructor(o: ManagerOptions, project = DEFAULT_PROJECT, shared?: ManagerShared) {
    this.#o = o;
    this.project = project;
    this.#shared = shared ?? {
      lxc: new LxcDriver(o.containersDir),
      images: new ImageStore(o.imagesDir),
      locks: new Map(),
      cgroup: cgroupVersion(),
    };
    this.lxc = this.#shared.lxc;
    this.images = this.#shared.images;
  }

  /** The same member's instances of another project. */
  in(project: string): InstanceManager {
    return project === this.project ? this : new InstanceManager(this.#o, project, this.#shared);
  }

  /** The container's name to liblxc and on disk (LXD's project.Instance). */
  key(name: string): string {
    return this.project === DEFAULT_PROJECT ? name : `${this.project}_${name}`;
  }

  /** An instance's URL as events and used_by show it. */
  #url(name: string): string {
    return projectUrl(`/1.0/instances/${name}`, this.project);
  }

  #event(action: string, name: string, context: Record<string, unknown> = {}): void {
    this.#o.events.lifecycle(action, this.#url(name), context, this.project);
  }

  /** The console log file of an instance. */
  consolePath(name: string): string {
    return this.lxc.consolePath(this.key(name));
  }

  get db(): GlobalDB {
    return this.#o.db;
  }

  /** Runs fn after every earlier lifecycle change of the instance, alone (a move holds it throughout). */
  locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#serial(name, fn);
  }

  /** Runs fn after every earlier lifecycle change of the same instance. */
  async #serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const key = this.key(name);
    const prev = this.#shared.locks.get(key) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.#shared.locks.set(key, next);
    try {
      return await next;
    } finally {
      if (this.#shared.locks.get(key) === next) this.#shared.locks.delete(key);
    }
  }

  /** The storage driver of a pool, from its record, ready for use (a btrfs pool mounted). */
  async pool(name: string): Promise<StorageDriver> {
    const p = await this.db.read((tx) => getPool(tx, name, this.#o.location()));
    const state = p.memberStates[this.#o.location()] ?? p.status;
    if (state !== "Created") {
      throw badRequest(
        `Storage pool "${name}" is ${state.toLowerCase()} on this member: finish it first (lxc storage create ${name} ${p.driver})`,
      );
    }
    const d = openPool(p, this.#o.poolsDir);
    await d.mount();
    return d;
  }

  /** Loads an instance and its profiles. */
  async #load(name: string): Promise<{ rec: InstanceRecord; profiles: ProfileRecord[] }> {
    return await this.db.read((tx) => {
      const rec = getInstance(tx, name, this.project);
      return { rec, profiles: rec.profiles.map((p) => getProfile(tx, p, this.project)) };
    });
  }

  #expanded(rec: InstanceRecord, profiles: ProfileRecord[]) {
    return expand(profiles, { config: rec.config, devices: rec.devices });
  }

  /** The instance's root volume's directory and rootfs. */
  async #volume(rec: InstanceRecord, profiles: ProfileRecord[]): Promise<{ dir: string; rootfs: string }> {
    const root = rootDisk(this.#expanded(rec, profiles).devices);
    if (!root) throw badRequest("Failed getting root disk: No root device could be found");
    const dir = (await this.pool(root.pool)).containerPath(this.key(rec.name));
    return { dir, rootfs: `${dir}/rootfs` };
  }

  /** The container's state from liblxc. */
  async lxcState(name: string): Promise<LxcState> {
    return await this.lxc.state(this.key(name));
  }

  /** The API view of an instance, with its live status. */
  async render(rec: InstanceRecord, profiles: ProfileRecord[], st?: LxcState): Promise<InstanceJSON> {
    const local = rec.location === this.#o.location();
    const s = st ??
      (local ? await this.lxc.state(this.key(rec.name)) : { state: "STOPPED" as const, pid: -1 });
    return instanceJSON(rec, this.#expanded(rec, profiles), s);
  }

  /** One instance as the API shows it. */
  async get(name: string): Promise<InstanceJSON> {
    const { rec, profiles } = await this.#load(name);
    return await this.render(rec, profiles);
  }

  /** Every instance (all members), with status for the local ones. */
  async list(): Promise<{ json: InstanceJSON; record: InstanceRecord; state: LxcState | null }[]> {
    const all = await this.db.read((tx) => {
      const recs = listInstances(tx, undefined, this.project);
      const profiles = new Map<string, ProfileRecord>();
      for (const r of recs) {
        for (const p of r.profiles) if (!profiles.has(p)) profiles.set(p, getProfile(tx, p, this.project));
      }
      return recs.map((r) => ({ rec: r, profiles: r.profiles.map((p) => profiles.get(p)!) }));
    });
    // Every local container's state from one tool run (per container only if that fails).
    const local = all.some(({ rec }) => rec.location === this.#o.location())
      ? await this.lxc.states().catch(() => null)
      : null;
    return await Promise.all(all.map(async ({ rec, profiles }) => {
      const st = rec.location !== this.#o.location()
        ? null
        : local
        ? local.get(this.key(rec.name)) ?? { state: "STOPPED" as const, pid: -1 }
        : await this.lxc.state(this.key(rec.name));
      return { json: await this.render(rec, profiles, st ?? undefined), record: rec, state: st };
    }));
  }

  /** LXD's instance metrics of this member's running containers (GET /1.0/metrics). */
  async metrics(): Promise<Family[]> {
    // Every project's, each labelled with its project, as LXD's.
    const projects = await this.db.read((tx) =>
      tx.query<{ name: string }>("SELECT name FROM projects ORDER BY name").map((p) => p.name)
    );
    const running = (await Promise.all(projects.map((p) => this.in(p).list()))).flat()
      .filter((x) => x.state?.state === "RUNNING" && x.state.pid > 0);
    return await instanceMetrics(
      running.map((x) => ({ name: x.json.name, project: x.json.project ?? "default", pid: x.state!.pid })),
    );
  }

  /** GET /state: status, pid, processes and memory from the cgroup where readable. */
  async state(name: string, st?: LxcState): Promise<InstanceStateJSON> {
    return await instanceStateJSON(st ?? await this.lxc.state(this.key(name)));
  }

  /** Resolves the image of a create request to a fingerprint; 404 when there is none. */
  async resolveImage(source: NonNullable<InstancesPost["source"]>): Promise<string> {
    if (source.server && source.server !== "") {
      throw badRequest("Images from remote servers are not supported: import the image first");
    }
    return await this.db.read((tx) => imageOfSource(tx, this.project, source));
  }

  /**
   * Checks a create request; everything that can be refused is refused here, before anything
   * is written. Returns what create() needs.
   */
  async prepareCreate(req: InstancesPost): Promise<PreparedCreate> {
    checkMayStart(this.#o);
    const bad = createRequestProblem(req);
    if (bad) throw badRequest(bad);
    const name = req.name!;
    const config = req.config ?? {};
    const sourceType = req.source?.type ?? "none";
    // The project first ("Project not found"), and room in it, before any profile is looked up.
    await this.db.read((tx) => checkRoomForInstance(tx, this.project));
    const fingerprint = sourceType === "image" ? await this.resolveImage(req.source ?? {}) : null;
    const profiles = req.profiles === null || req.profiles === undefined ? ["default"] : req.profiles;
    const { existing, profileRecs } = await this.db.read((tx) => {
      const existing = listInstances(tx, undefined, this.project).some((i) => i.name === name);
      return { existing, profileRecs: profiles.map((p) => getProfile(tx, p, this.project)) };
    }).catch((e) => {
      if (e instanceof StatusError && e.status === 404) throw badRequest(`Requested profile doesn't exist`);
      throw e;
    });
    if (existing) throw conflict(`Instance "${name}" already exists`);
    const e = expand(profileRecs, { config, devices: req.devices ?? {} });
    await this.db.read((tx) => {
      checkNics(tx, e.devices);
      checkDisks(tx, e.devices, this.#o.location(), this.#o.location() !== "none", this.project);
    });
    const root = rootDisk(e.devices);
    if (!root) {
      throw badRequest(
        "Failed creating instance record: Failed initialising instance: Failed getting root disk: No root device could be found",
      );
    }
    await this.pool(root.pool);
    return { name, fingerprint, profiles, pool: root.pool };
  }

  /** Creates an instance after prepareCreate accepted the request; undoes what it did on failure. */
  async create(
    req: InstancesPost,
    p: PreparedCreate,
    /** Unpack progress, and with key "download_progress" a fetch from another member (LXD's keys). */
    progress: (text: string, key?: "download_progress") => void = () => {},
    /** A copy's filling of the new volume (no image); the keys it returns are set after it. */
    fill?: (volume: string) => Promise<Record<string, string>>,
  ): Promise<void> {
    await this.#serial(p.name, async () => {
      const member = this.#o.location();
      let meta: ImageMetadata | null = null;
      let image: { architecture: string; properties: Record<string, string> } | null = null;
      if (p.fingerprint) {
        const rec = await this.db.read((tx) =>
          findImage(tx, p.fingerprint!, imageProjectId(tx, this.project))
        );
        if (!(await this.images.has(rec.fingerprint))) {
          // Created on a member that does not hold the image: get it from one that does first.
          if (!this.#o.fetchImage) {
            throw notFound(`Image "${rec.fingerprint}" is not available on this member`);
          }
          progress("Fetching image from another cluster member");
          await this.#o.fetchImage(rec.fingerprint, (text) => progress(text, "download_progress"));
        }
        image = rec;
      }
      const config: Record<string, string> = { ...(req.config ?? {}) };
      if (image && p.fingerprint) {
        for (const [k, v] of Object.entries(image.properties)) config[`image.${k}`] = v;
        config["volatile.base_image"] = p.fingerprint;
      }
      // The id map keys are the daemon's (LXD's names and values): whatever a request said.
      const profileRecs = await this.db.read((tx) => p.profiles.map((n) => getProfile(tx, n, this.project)));
      const privileged = isTrue(expand(profileRecs, { config, devices: {} }).config["security.privileged"]);
      config["volatile.idmap.base"] = "0";
      config["volatile.idmap.next"] = idmapJSON(idmapFor(privileged));
      config["volatile.last_state.idmap"] = "[]";
      delete config["volatile.idmap.current"];
      await this.db.run(createInstance, {
        project: this.project,
        name: p.name,
        architecture: image?.architecture ?? archName(),
        type: "container",
        ephemeral: req.ephemeral === true,
        description: req.description ?? "",
        profiles: p.profiles,
        config: sortKeys(config),
        devices: req.devices ?? {},
        member,
      });
      const pool = await this.pool(p.pool);
      let volume = "";
      try {
        volume = await pool.createContainerVolume(this.key(p.name));
        await this.db.run(createInstanceVolume, {
          project: this.project,
          name: p.name,
          pool: p.pool,
          member,
        });
        if (p.fingerprint) {
          progress("Unpack: 0%");
          await this.images.unpack(p.fingerprint, volume);
          progress("Unpack: 100%");
          meta = await readMetadata(volume);
          await applyTemplates(volume, meta, p.name, "create");
          await this.db.run(touchImage, { project: this.project, fingerprint: p.fingerprint });
        } else if (fill) {
          const keys = await fill(volume);
          await this.db.run(setInstanceKeys, { project: this.project, name: p.name, keys });
        } else {
          await Deno.mkdir(`${volume}/rootfs`, { mode: 0o755 });
        }
        await Deno.chmod(volume, 0o100);
      } catch (e) {
        await pool.deleteContainerVolume(this.key(p.name)).catch(() => {});
        await this.db.run(deleteInstanceVolume, { project: this.project, name: p.name, pool: p.pool }).catch(
          () => {},
        );
        await this.db.run(deleteInstance, { project: this.project, name: p.name }).catch(() => {});
        throw new Error(`Failed creating instance from image: ${errorMessage(e)}`);
      }
      this.#event("instance-created", p.name, { type: "container" });
    });
  }

  /** Starts a stopped instance. */
  async start(name: string): Promise<void> {
    checkMayStart(this.#o);
    await this.#serial(name, async () => {
      const { rec, profiles } = await this.#load(name);
      // A move that committed while this start waited: the copy here is no longer the instance.
      if (rec.location !== this.#o.location()) {
        throw conflict(`Instance "${name}" is now on "${rec.location}"`);
      }
      const st = await this.lxc.state(this.key(name));
      if (st.state === "RUNNING") throw badRequest("The instance is already running");
      if (st.state === "FROZEN") throw badRequest("The instance is frozen: unfreeze it first");
      const { dir, rootfs } = await this.#volume(rec, profiles);
      const e = this.#expanded(rec, profiles);
      const volumes = await this.db.read((tx) => volumeProject(tx, this.project).name);
      const nics = planNics(e.devices, rec.config);
      for (const n of nics.nics) if (n.network) await this.#o.networks?.setHost(n.network, name, n.hwaddr);
      const next = idmapFor(isTrue(e.config["security.privileged"]));
      const plan = await prepareIdmap(dir, next, parseIdmap(rec.config["volatile.last_state.idmap"]));
      await this.db.run(setInstanceKeys, {
        project: this.project,
        name,
        keys: {
          "volatile.idmap.base": "0",
          "volatile.idmap.current": idmapJSON(plan.idmap),
          "volatile.idmap.next": idmapJSON(plan.idmap),
          "volatile.last_state.idmap": idmapJSON(plan.onDisk),
        },
      });
      await this.lxc.writeConfig(
        this.key(name),
        await lxcConfigAtStart({
          name,
          key: this.key(name),
          rootfs,
          lxc: this.lxc,
          cgroup: this.#shared.cgroup,
          expanded: e,
          nics: nics.nics,
          idmap: plan,
          pool: (p) => this.pool(p),
          volumes,
        }),
      );
      await this.lxc.start(this.key(name));
      await this.db.run(setInstanceKeys, {
        project: this.project,
        name,
        keys: { ...nics.volatile, "volatile.last_state.power": "RUNNING" },
        used: true,
      });
      this.#event("instance-started", name);
    });
  }

  /** Stops a running instance: cleanly within timeout seconds, or at once with force. */
  async stop(name: string, o: { force?: boolean; timeout?: number } = {}): Promise<void> {
    await this.#serial(name, async () => {
      await this.#load(name);
      const st = await this.lxc.state(this.key(name));
      if (st.state === "STOPPED") throw badRequest("The instance is already stopped");
      if (st.state === "FROZEN" && !o.force) throw badRequest("The instance is frozen: unfreeze it first");
      await this.lxc.stop(this.key(name), { force: o.force === true, timeout: o.timeout ?? -1 });
      await this.db.run(setInstanceKeys, {
        project: this.project,
        name,
        keys: { "volatile.last_state.power": "STOPPED" },
      });
      this.#event("instance-stopped", name);
      const { rec } = await this.#load(name);
      if (rec.ephemeral) await this.#destroy(name);
    });
  }

  async restart(name: string, o: { force?: boolean; timeout?: number } = {}): Promise<void> {
    const st = await this.lxc.state(this.key(name));
    if (st.state !== "RUNNING") throw badRequest("The instance isn't running");
    await this.#serial(name, async () => {
      await this.lxc.stop(this.key(name), { force: o.force === true, timeout: o.timeout ?? -1 });
    });
    await this.start(name);
    this.#event("instance-restarted", name);
  }

  async freeze(name: string): Promise<void> {
    await this.#serial(name, async () => {
      const st = await this.lxc.state(this.key(name));
      if (st.state !== "RUNNING") throw badRequest("The instance isn't running");
      await this.lxc.freeze(this.key(name));
      this.#event("instance-paused", name);
    });
  }

  async unfreeze(name: string): Promise<void> {
    await this.#serial(name, async () => {
      const st = await this.lxc.state(this.key(name));
      if (st.state !== "FROZEN") throw badRequest("The instance isn't frozen");
      await this.lxc.unfreeze(this.key(name));
      this.#event("instance-resumed", name);
    });
  }

  /** Deletes a stopped instance with its volume; LXD's "Instance is running" otherwise. */
  async delete(name: string): Promise<void> {
    await this.#serial(name, async () => {
      await this.#load(name);
      const st = await this.lxc.state(this.key(name));
      if (st.state !== "STOPPED") throw badRequest("Instance is running");
      await this.#destroy(name);
    });
  }

  async #destroy(name: string): Promise<void> {
    const { rec, profiles } = await this.#load(name);
    const root = rootDisk(this.#expanded(rec, profiles).devices);
    if (root) {
      const pool = await this.pool(root.pool);
      const dir = pool.containerPath(this.key(name));
      await Deno.chmod(dir, 0o700).catch(() => {});
      await pool.deleteContainerVolume(this.key(name));
      await pool.deleteSnapshots(this.key(name));
      await this.db.run(deleteInstanceVolume, { project: this.project, name, pool: root.pool });
    }
    for (const d of Object.values(this.#expanded(rec, profiles).devices)) {
      if (d.type === "nic" && d.network) await this.#o.networks?.removeHost(d.network, name);
    }
    await this.lxc.destroy(this.key(name));
    await this.db.run(deleteInstance, { project: this.project, name });
    this.#event("instance-deleted", name);
  }

  /** Replaces (PUT) the writable part of an instance; applies limits to a running one on next start. */
  async update(
    name: string,
    u: {
      description?: string;
      config?: Record<string, string>;
      devices?: Devices;
      profiles?: string[];
      ephemeral?: boolean;
    },
  ): Promise<void> {
    await this.#serial(name, async () => {
      const { rec } = await this.#load(name);
      const bad = updateRequestProblem(u);
      if (bad) throw badRequest(bad);
      const next = keepVolatile(rec.config, u.config ?? {});
      const profiles = u.profiles ?? rec.profiles;
      const profileRecs = await this.db.read((tx) => profiles.map((p) => getProfile(tx, p, this.project)))
        .catch((e) => {
          if (e instanceof StatusError && e.status === 404) {
            throw badRequest("Requested profile doesn't exist");
          }
          throw e;
        });
      const devices = expand(profileRecs, { config: next, devices: u.devices ?? {} }).devices;
      await this.db.read((tx) => {
        checkNics(tx, devices);
        checkDisks(tx, devices, this.#o.location(), this.#o.location() !== "none", this.project);
      });
      await this.db.run(updateInstance, {
        project: this.project,
        name,
        description: u.description ?? rec.description,
        ephemeral: u.ephemeral ?? rec.ephemeral,
        profiles,
        config: sortKeys(next),
        devices: u.devices ?? {},
      });
      await this.#applyLimits(name);
      this.#event("instance-updated", name);
    });
  }

  /**
   * Applies limits.memory and limits.cpu to a running container's cgroup at once, as LXD does;
   * a stopped one gets them from its config at the next start.
   */
  async #applyLimits(name: string): Promise<void> {
    const st = await this.lxc.state(this.key(name));
    if (st.state !== "RUNNING" && st.state !== "FROZEN") return;
    const { rec, profiles } = await this.#load(name);
    await applyLimits(
      this.lxc,
      this.key(name),
      this.#expanded(rec, profiles).config,
      this.#shared.cgroup,
      this.#o.log,
    );
  }

  /** What lxc-attach runs for an exec request, with LXD's default environment. */
  async execTarget(name: string, req: ExecRequest): Promise<ExecTarget> {
    const { rec, profiles } = await this.#load(name);
    const st = await this.lxc.state(this.key(name));
    if (st.state === "FROZEN") throw badRequest("Instance is frozen");
    if (st.state !== "RUNNING") throw badRequest("Instance is not running");
    return attachTarget(this.lxc, this.key(name), name, this.#expanded(rec, profiles).config, req);
  }

  /**
   * The command that attaches to a running container's console (tty 0). lxc-console's escape
   * key cannot be turned off as LXD's forkconsole does: Ctrl-^ is one nobody types by chance.
   */
  async consoleArgv(name: string): Promise<string[]> {
    await this.#load(name);
    const st = await this.lxc.state(this.key(name));
    if (st.state === "FROZEN") throw badRequest("Instance is frozen");
    if (st.state !== "RUNNING") throw badRequest("Instance is not running");
    return ["lxc-console", "-P", this.lxc.lxcpath, "-n", this.key(name), "-t", "0", "-e", "^^"];
  }

  /**
   * The instance's root, held open for file operations: every path resolves inside it, owners
   * are the container's ids (the rootfs may be shifted on disk).
   */
  async files(name: string): Promise<InRoot> {
    const { rec, profiles } = await this.#load(name);
    const { rootfs } = await this.#volume(rec, profiles);
    return new InRoot(rootfs, { map: parseIdmap(rec.config["volatile.last_state.idmap"]) });
  }

  /** The log files of an instance (LXD: lxc.log, console.log, recorded exec output). */
  async logs(name: string): Promise<string[]> {
    await this.#load(name);
    return await this.lxc.logFiles(this.key(name));
  }

  /** A log file's path; 404 for anything that is not one of the instance's logs. */
  async logPath(name: string, file: string): Promise<string> {
    if (!(await this.logs(name)).includes(file)) throw notFound("Log file not found");
    return `${this.lxc.dir(this.key(name))}/${file}`;
  }

  /**
   * At daemon start: containers kept running while the daemon was away are found again by
   * liblxc; those that should run (boot.autostart, or last left running) are started.
   */
  async startup(): Promise<void> {
    await startInstances(this, this.#o.location(), this.#o.log, this.#o.refuseStart);
  }
}
