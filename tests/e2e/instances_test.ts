/**
 * Real instances end to end, through our client and the API over the unix socket: a busybox
 * image from scripts/make-busybox-image, a dir pool from the preseed, real liblxc containers.
 * No TCP: every request goes over the member's unix socket.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Client } from "../../lib/client/mod.ts";
import type { Operation } from "../../lib/wire/mod.ts";
import { Member, run, SHOAL, tempDir, waitFor } from "../helpers/member.ts";
import { busyboxImage, PRESEED, stopContainers } from "../compat/instances_helpers.ts";

/** A member with the preseed applied and the busybox image imported as "bb". */
async function readyMember(tmp: string): Promise<{ m: Member; image: string }> {
  const m = await new Member(`${tmp}/m1`).start();
  const p = await m.shoald(["init", "--preseed"], { stdin: PRESEED });
  assert.equal(p.code, 0, `${p.stderr}\n${await m.logTail(200)}`);
  const image = await busyboxImage(tmp);
  const r = await m.shoal(["image", "import", image, "--alias", "bb"]);
  assert.equal(r.code, 0, `${r.stderr}\n${await m.logTail(200)}`);
  return { m, image };
}

async function sha256(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

Deno.test("images: import (gzip and xz), fingerprint, aliases, refusal of what is not an image", async (t) => {
  await using tmp = await tempDir("inst-images");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    const gz = await busyboxImage(tmp.path);
    const xz = await busyboxImage(tmp.path, "tar.xz");
    await t.step("import prints the SHA-256 of the file; the file is kept under images/", async () => {
      const r = await m.shoal(["image", "import", gz, "--alias", "bb"]);
      assert.equal(r.code, 0, r.stderr);
      const fp = await sha256(gz);
      assert.equal(r.stdout.trim(), `Image imported with fingerprint: ${fp}`);
      assert.equal((await Deno.stat(`${m.dir}/images/${fp}`)).size, (await Deno.stat(gz)).size);
      const list = await m.shoal(["image", "list", "--format", "csv"]);
      assert.match(list.stdout, new RegExp(`^bb,${fp.slice(0, 12)},no,BusyBox .*,x86_64,CONTAINER,`, "m"));
      const show = await m.shoal(["image", "show", "bb"]);
      assert.match(show.stdout, /os: busybox/);
    });
    await t.step("an xz image imports too", async () => {
      const r = await m.shoal(["image", "import", xz]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(await sha256(xz)));
    });
    await t.step("the same image twice is refused", async () => {
      const r = await m.shoal(["image", "import", gz]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Image with same fingerprint already exists/);
    });
    await t.step("a file that is not an image is refused and leaves nothing behind", async () => {
      const before = [...Deno.readDirSync(`${m.dir}/images`)].map((e) => e.name).sort();
      await Deno.writeTextFile(`${tmp.path}/junk.tar.gz`, "this is not a tarball\n");
      const r = await m.shoal(["image", "import", `${tmp.path}/junk.tar.gz`]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), "Error: Unsupported compression");
      // A real tarball without metadata.yaml.
      await Deno.mkdir(`${tmp.path}/x`);
      await Deno.writeTextFile(`${tmp.path}/x/hello`, "hi\n");
      assert.equal(
        (await run("tar", ["-czf", `${tmp.path}/nometa.tar.gz`, "-C", `${tmp.path}/x`, "."])).code,
        0,
      );
      const r2 = await m.shoal(["image", "import", `${tmp.path}/nometa.tar.gz`]);
      assert.equal(r2.stderr.trim(), "Error: Metadata tarball is missing metadata.yaml");
      assert.deepEqual([...Deno.readDirSync(`${m.dir}/images`)].map((e) => e.name).sort(), before);
      assert.equal((await m.shoal(["image", "list", "--format", "csv"])).stdout.trim().split("\n").length, 2);
    });
    await t.step("alias create, delete; image delete", async () => {
      const fp = await sha256(xz);
      await m.must(["image", "alias", "create", "small", fp.slice(0, 12)]);
      const dup = await m.shoal(["image", "alias", "create", "small", fp]);
      assert.match(dup.stderr, /Alias already exists/);
      assert.match((await m.shoal(["image", "alias", "list", "--format", "csv"])).stdout, /^small,/m);
      await m.must(["image", "alias", "delete", "small"]);
      await m.must(["image", "delete", fp]);
      await assert.rejects(Deno.stat(`${m.dir}/images/${fp}`));
      const gone = await m.shoal(["image", "show", fp]);
      assert.match(gone.stderr, /Image not found/);
    });
  } finally {
    await m.stop();
  }
});

Deno.test("storage pools and profiles from the preseed; the dir pool is real", async () => {
  await using tmp = await tempDir("inst-storage");
  const m = await new Member(`${tmp.path}/m1`).start();
  try {
    const p = await m.shoald(["init", "--preseed"], { stdin: PRESEED });
    assert.equal(p.code, 0, p.stderr);
    // Applying it again changes nothing and does not fail.
    assert.equal((await m.shoald(["init", "--preseed"], { stdin: PRESEED })).code, 0);
    const list = await m.shoal(["storage", "list", "--format", "csv"]);
    assert.equal(list.stdout, `default,dir,${m.dir}/storage-pools/default,,1,CREATED\n`);
    assert.ok((await Deno.stat(`${m.dir}/storage-pools/default/containers`)).isDirectory);
    assert.match((await m.shoal(["storage", "show", "default"])).stdout, /driver: dir/);
    const prof = await m.shoal(["profile", "show", "default"]);
    assert.match(prof.stdout, /root:\n\s+path: \/\n\s+pool: default\n\s+type: disk/);
    const bad = await m.shoal(["storage", "create", "p2", "zfs"]);
    assert.match(bad.stderr, /Storage pool driver "zfs" is not supported/);
    const edit = await m.shoal(["profile", "edit", "default"], {
      stdin:
        "description: edited\nconfig:\n  environment.GREETING: hello\ndevices:\n  root:\n    path: /\n    pool: default\n    type: disk\n",
    });
    assert.equal(edit.code, 0, edit.stderr);
    assert.match((await m.shoal(["profile", "show", "default"])).stdout, /environment.GREETING: hello/);
    const badEdit = await m.shoal(["profile", "edit", "default"], { stdin: "config:\n  nope.key: x\n" });
    assert.match(badEdit.stderr, /Unknown configuration key: nope.key/);
    assert.match((await m.shoal(["profile", "list", "--format", "csv"])).stdout, /^default,edited,0$/m);
  } finally {
    await m.stop();
  }
});

Deno.test("a real container: launch, list, exec, files, config, stop, delete, with LXD's refusals", async (t) => {
  await using tmp = await tempDir("inst-life");
  const { m } = await readyMember(tmp.path);
  try {
    await t.step("launch runs a container under this member's lxcpath", async () => {
      const r = await m.shoal(["launch", "bb", "c1", "-c", "environment.FOO=bar"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "Creating c1\nStarting c1\n");
      assert.equal((await m.shoal(["list", "--format", "csv", "-c", "ns"])).stdout, "c1,RUNNING\n");
      const info = await run("lxc-info", ["-P", `${m.dir}/containers`, "-n", "c1", "-s"]);
      assert.match(info.stdout, /RUNNING/);
      await Deno.stat(`${m.dir}/storage-pools/default/containers/c1/rootfs/bin/busybox`);
      const full = await m.shoal(["list", "--format", "json"]);
      const [inst] = JSON.parse(full.stdout);
      assert.equal(inst.location, "none");
      assert.equal(inst.expanded_devices.root.pool, "default");
    });
    await t.step("bad input is refused in LXD's words and changes nothing", async () => {
      const dup = await m.shoal(["launch", "bb", "c1"]);
      assert.match(dup.stderr, /Error: Instance "c1" already exists/);
      const bad = await m.shoal(["init", "bb", "1bad"]);
      assert.match(bad.stderr, /Error: Invalid instance name: Name must not start with a number/);
      const bad2 = await m.shoal(["init", "bb", "a_b"]);
      assert.match(bad2.stderr, /Name can only contain alphanumeric and hyphen characters/);
      const img = await m.shoal(["launch", "nosuch", "c9"]);
      assert.match(img.stderr, /Error: Image not found/);
      const del = await m.shoal(["delete", "c1"]);
      assert.equal(
        del.stderr.trim(),
        "Error: The instance is currently running, stop it first or pass --force",
      );
      const api = await m.client().request("DELETE", "/1.0/instances/c1").catch((e) => e);
      assert.equal(api.status, 400);
      assert.equal(api.message, "Instance is running");
      const key = await m.shoal(["config", "set", "c1", "nope.key=1"]);
      assert.match(key.stderr, /Unknown configuration key: nope.key/);
      assert.equal((await m.shoal(["list", "--format", "csv", "-c", "ns"])).stdout, "c1,RUNNING\n");
      assert.deepEqual(
        [...Deno.readDirSync(`${m.dir}/storage-pools/default/containers`)].map((e) => e.name),
        [
          "c1",
        ],
      );
    });
    await t.step("exec: output, stdin, exit codes (127 for a missing command), environment", async () => {
      assert.equal((await m.must(["exec", "c1", "--", "hostname"])).stdout, "c1\n");
      const code = await m.shoal(["exec", "c1", "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
      assert.equal(code.code, 7);
      assert.equal(code.stdout, "out\n");
      assert.equal(code.stderr, "err\n");
      assert.equal((await m.shoal(["exec", "c1", "--", "no-such-command"])).code, 127);
      const cat = await m.shoal(["exec", "c1", "--", "wc", "-c"], { stdin: "x".repeat(100_000) });
      assert.equal(cat.stdout.trim(), "100000");
      const env = await m.shoal(["exec", "c1", "--env", "A=1", "--", "env"]);
      assert.match(env.stdout, /^A=1$/m);
      assert.match(env.stdout, /^FOO=bar$/m);
      assert.match(env.stdout, /^HOME=\/root$/m);
    });
    await t.step("files: push, pull, mode and owner; no path leaves the container's root", async () => {
      await Deno.writeTextFile(`${tmp.path}/f`, "payload\n", { mode: 0o640 });
      await m.must(["file", "push", `${tmp.path}/f`, "c1/root/f", "--uid", "12"]);
      assert.equal((await m.must(["exec", "c1", "--", "cat", "/root/f"])).stdout, "payload\n");
      assert.equal(
        (await m.must(["exec", "c1", "--", "stat", "-c", "%a %u", "/root/f"])).stdout,
        "640 12\n",
      );
      await m.must(["file", "pull", "c1/root/f", `${tmp.path}/g`]);
      assert.equal(await Deno.readTextFile(`${tmp.path}/g`), "payload\n");
      // "..", and a symlink to an absolute path, resolve inside the root as in the container.
      const marker = `shoal-escape-${crypto.randomUUID()}`;
      await m.must(["file", "push", `${tmp.path}/f`, `c1/../../../../tmp/${marker}`]);
      await assert.rejects(Deno.stat(`/tmp/${marker}`));
      await m.must(["exec", "c1", "--", "cat", `/tmp/${marker}`]);
      await m.must(["exec", "c1", "--", "ln", "-s", "/etc", "/root/etc-link"]);
      const pulled = await m.shoal(["file", "pull", "c1/root/etc-link/passwd", "-"]);
      assert.match(pulled.stdout, /^root:x:0:0:root:\/root:\/bin\/sh$/m);
      assert.doesNotMatch(pulled.stdout, /nologin/); // the host's /etc/passwd has service accounts
      const missing = await m.shoal(["file", "pull", "c1/no/such", `${tmp.path}/h`]);
      assert.match(missing.stderr, /No such file or directory/);
    });
    await t.step(
      "config of an instance: get, set, show; limits apply through cgroups, live and at start",
      async () => {
        const ok = async (r: Promise<{ code: number; stderr: string }>) => {
          const x = await r;
          assert.equal(x.code, 0, `${x.stderr}\n${await m.logTail(40)}`);
        };
        await ok(m.shoal(["config", "set", "c1", "limits.memory=64MiB"]));
        assert.equal((await m.shoal(["config", "get", "c1", "limits.memory"])).stdout, "64MiB\n");
        assert.match((await m.shoal(["config", "show", "c1"])).stdout, /limits.memory: 64MiB/);
        // Applied to the running container at once, where the machine has the memory controller.
        const cgroup = () =>
          run("lxc-cgroup", ["-P", `${m.dir}/containers`, "-n", "c1", "memory.limit_in_bytes"]);
        const live = await cgroup();
        if (live.code === 0) assert.equal(live.stdout.trim(), "67108864");
        await ok(m.shoal(["restart", "c1", "--force"]));
        const cfg = await Deno.readTextFile(`${m.dir}/containers/c1/config`);
        assert.match(cfg, /memory(\.limit_in_bytes|\.max) = 67108864/);
        const cg = await cgroup();
        if (cg.code === 0) assert.equal(cg.stdout.trim(), "67108864");
        await ok(m.shoal(["exec", "c1", "--", "true"]));
      },
    );
    await t.step("info and console --show-log", async () => {
      const info = await m.shoal(["info", "c1"]);
      assert.match(info.stdout, /^Name: c1$/m);
      assert.match(info.stdout, /^Status: RUNNING$/m);
      assert.match(info.stdout, /^PID: \d+$/m);
      const log = await waitFor("console output", async () => {
        const r = await m.shoal(["console", "c1", "--show-log"]);
        return r.stdout.includes("BusyBox") ? r : null;
      });
      assert.equal(log.code, 0);
    });
    await t.step("stop, then delete removes the container and its volume", async () => {
      await m.must(["stop", "c1", "--force"]);
      assert.equal((await m.shoal(["list", "--format", "csv", "-c", "ns"])).stdout, "c1,STOPPED\n");
      const again = await m.shoal(["stop", "c1"]);
      assert.match(again.stderr, /The instance is already stopped/);
      await m.must(["delete", "c1"]);
      assert.equal((await m.shoal(["list", "--format", "csv"])).stdout, "");
      await assert.rejects(Deno.stat(`${m.dir}/storage-pools/default/containers/c1`));
      await assert.rejects(Deno.stat(`${m.dir}/containers/c1`));
    });
  } finally {
    await stopContainers(m.dir);
    await m.stop();
  }
});

/** Connects an operation websocket over the unix socket. */
function opSocket(m: Member, op: string, secret: string): Promise<WebSocket> {
  const http = Deno.createHttpClient({ proxy: { transport: "unix", path: m.socket } });
  const ws = new WebSocket(
    `ws://shoal/1.0/operations/${op}/websocket?secret=${secret}`,
    { client: http } as unknown as string[],
  );
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error("websocket failed"));
  });
}

Deno.test("exec protocol: a pty with window resizes, record-output, and a restart that keeps containers", async (t) => {
  await using tmp = await tempDir("inst-exec");
  const { m } = await readyMember(tmp.path);
  let client: Client | null = null;
  try {
    await m.must(["launch", "bb", "c1"]);
    client = m.client();
    const c = client;
    await t.step("interactive: one socket for a pty sized as asked, resized through control", async () => {
      const r = await c.request<Operation>("POST", "/1.0/instances/c1/exec", {
        body: { command: ["sh"], "wait-for-websocket": true, interactive: true, width: 100, height: 30 },
      });
      const fds = r.metadata.metadata!.fds as Record<string, string>;
      assert.deepEqual(Object.keys(fds).sort(), ["0", "control"]);
      const control = await opSocket(m, r.metadata.id, fds.control!);
      const tty = await opSocket(m, r.metadata.id, fds["0"]!);
      let out = "";
      tty.onmessage = (e) => {
        if (typeof e.data !== "string") out += new TextDecoder().decode(e.data);
      };
      const type = (s: string) => tty.send(new TextEncoder().encode(s));
      // lxc-attach flushes input while it sets its terminal up: type once the shell prompts.
      await waitFor("the shell's prompt", () => out.includes("# "));
      type("tty; stty size\r");
      await waitFor("the first size", () => /30 100/.test(out));
      assert.match(out, /\/dev\/pts\/\d+/);
      control.send(JSON.stringify({ command: "window-resize", args: { width: "132", height: "45" } }));
      // lxc-attach passes the resize on to the command's own pty.
      await waitFor(
        "the new size",
        () => {
          type("stty size\r");
          return /45 132/.test(out);
        },
        10_000,
        300,
      );
      type("exit 3\r");
      const done = await c.waitOperation(r.metadata.id, 20);
      assert.equal(done.metadata?.return, 3);
    });
    await t.step("shoal exec on a terminal runs the command on a pty of the terminal's size", async () => {
      // script(1) gives our client a terminal; the size set there must reach the command.
      const r = await run("script", [
        "-qfec",
        `stty rows 20 cols 70; "${SHOAL}" exec c1 -- sh -c 'tty; stty size; exit 4'`,
        "/dev/null",
      ], { env: m.env });
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.match(r.stdout, /\/dev\/pts\/\d+/);
      assert.match(r.stdout, /20 70/);
    });
    await t.step("record-output keeps stdout and stderr as instance logs", async () => {
      const r = await c.request<Operation>("POST", "/1.0/instances/c1/exec", {
        body: { command: ["sh", "-c", "echo recorded; echo oops >&2; exit 2"], "record-output": true },
      });
      const done = await c.waitOperation(r.metadata.id, 20);
      assert.equal(done.metadata?.return, 2);
      const output = done.metadata?.output as Record<string, string>;
      const get = async (p: string) => {
        const http = Deno.createHttpClient({ proxy: { transport: "unix", path: m.socket } });
        try {
          return await (await fetch(`http://shoal${p}`, { client: http })).text();
        } finally {
          http.close();
        }
      };
      assert.equal(await get(output["1"]!), "recorded\n");
      assert.equal(await get(output["2"]!), "oops\n");
      const logs = await c.get<string[]>("/1.0/instances/c1/logs");
      assert.ok(logs.includes(output["1"]!), JSON.stringify(logs));
    });
    await t.step("a daemon killed and restarted finds its container still running", async () => {
      const pid = (await c.get<{ pid: number }>("/1.0/instances/c1/state")).pid;
      client?.close();
      client = null;
      await m.kill();
      await m.start();
      client = m.client();
      const st = await client.get<{ status: string; pid: number }>("/1.0/instances/c1/state");
      assert.equal(st.status, "Running");
      assert.equal(st.pid, pid);
      assert.equal((await m.must(["exec", "c1", "--", "hostname"])).stdout, "c1\n");
    });
    await t.step(
      "after a restart, a container last left running is started again if it was stopped behind our back",
      async () => {
        await run("lxc-stop", ["-P", `${m.dir}/containers`, "-n", "c1", "-k"]);
        client!.close();
        client = null;
        await m.stop();
        await m.start();
        await waitFor(
          "c1 running again",
          async () => (await m.shoal(["list", "--format", "csv", "-c", "ns"])).stdout === "c1,RUNNING\n",
        );
      },
    );
  } finally {
    client?.close();
    await stopContainers(m.dir);
    await m.stop();
  }
});
