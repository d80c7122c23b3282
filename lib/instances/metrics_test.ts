import assert from "node:assert/strict";
import { parseFsStats } from "./metrics.ts";

const MOUNTINFO = [
  "830 760 0:52 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
  "760 700 254:1 /var/lib/shoal/storage-pools/default/containers/c1/rootfs / rw,relatime master:1 - ext4 /dev/vda1 rw",
].join("\n");

Deno.test("the root filesystem's figures in LXD's names: type by magic, source of / as device", () => {
  assert.deepEqual(parseFsStats("ef53 ext2/ext3 4096 1000 600 500\n", MOUNTINFO), {
    device: "/dev/vda1",
    fstype: "ext4",
    size: 4096 * 1000,
    free: 4096 * 600,
    avail: 4096 * 500,
  });
  // a type LXD has no name for keeps stat's
  assert.equal(parseFsStats("794c7630 overlayfs 4096 1 1 1", null)?.fstype, "overlayfs");
  assert.equal(parseFsStats("794c7630 overlayfs 4096 1 1 1", null)?.device, "");
  assert.equal(parseFsStats("garbage", MOUNTINFO), null);
});
