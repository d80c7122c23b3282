/** Helpers of the instance tests (e2e and compat): the preseed, the busybox image, cleanup. */
import { run } from "../helpers/member.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export const PRESEED = `storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
`;

/** PRESEED plus a managed bridge (lxdbr0, ipv4 auto) and an eth0 nic on it in the default profile. */
export const NETWORK_PRESEED = `storage_pools:
- name: default
  driver: dir
networks:
- name: lxdbr0
  type: bridge
  config:
    ipv4.address: auto
    ipv6.address: none
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
    eth0:
      name: eth0
      network: lxdbr0
      type: nic
`;

/** Builds the busybox image once per file name. */
export async function busyboxImage(dir: string, ext = "tar.gz"): Promise<string> {
  const out = `${dir}/busybox.${ext}`;
  const r = await run(`${ROOT}/scripts/make-busybox-image`, [out]);
  if (r.code !== 0) throw new Error(`make-busybox-image failed: ${r.stderr}`);
  return out;
}

/** Stops every container of a member: tests must not leave containers running. */
export async function stopContainers(dir: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(`${dir}/containers`)) {
      await run("lxc-stop", ["-P", `${dir}/containers`, "-n", e.name, "-k"]);
    }
  } catch { /* no containers */ }
}
