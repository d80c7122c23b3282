/**
 * The busybox test image with what real images do at boot on a bridged nic: busybox's udhcpc
 * asks for a lease on eth0 and its script sets the address, the route and resolv.conf.
 */
import { run } from "./member.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

const SCRIPT = `#!/bin/sh
case "$1" in
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -n "$router" ] && ip route replace default via "\${router%% *}" dev "$interface"
  : >/etc/resolv.conf
  [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
  ;;
esac
`;

/** Builds the image into dir/bb-dhcp.tar.gz and returns its path. */
export async function dhcpBusyboxImage(dir: string): Promise<string> {
  const work = `${dir}/bb-dhcp`;
  const base = `${work}.base.tar.gz`;
  await Deno.mkdir(work, { recursive: true });
  const mk = await run(`${ROOT}/scripts/make-busybox-image`, [base]);
  if (mk.code !== 0) throw new Error(`make-busybox-image failed: ${mk.stderr}`);
  const untar = await run("tar", ["-C", work, "--numeric-owner", "-xzf", base]);
  if (untar.code !== 0) throw new Error(`cannot unpack the busybox image: ${untar.stderr}`);
  await Deno.mkdir(`${work}/rootfs/usr/share/udhcpc`, { recursive: true });
  await Deno.writeTextFile(`${work}/rootfs/usr/share/udhcpc/default.script`, SCRIPT, { mode: 0o755 });
  await Deno.chmod(`${work}/rootfs/usr/share/udhcpc/default.script`, 0o755);
  await Deno.writeTextFile(
    `${work}/rootfs/etc/init.d/rcS`,
    "ip link set eth0 up 2>/dev/null && udhcpc -b -i eth0 -t 3 -T 1 -A 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1\n",
    { append: true },
  );
  const out = `${dir}/bb-dhcp.tar.gz`;
  const tar = await run("tar", [
    "-C",
    work,
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "-czf",
    out,
    "metadata.yaml",
    "templates",
    "rootfs",
  ]);
  if (tar.code !== 0) throw new Error(`cannot pack the DHCP busybox image: ${tar.stderr}`);
  return out;
}
