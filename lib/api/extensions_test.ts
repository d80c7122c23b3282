/**
 * shoal's api_extensions beside LXD 5.0.2's (tests/data, what Debian's LXD 5.0.2 returns): the
 * real lxc refuses a command whose extension the server lacks, so every LXD extension shoal does
 * not advertise must be explained here by the feature that would need it, and each one shoal
 * advertises must be LXD's (or one of the few shoal adds, named below).
 */
import assert from "node:assert/strict";
import { API_EXTENSIONS } from "./extensions.ts";

const LXD = Deno.readTextFileSync(new URL("../../tests/data/lxd-5.0.2-api-extensions.txt", import.meta.url))
  .split("\n").map((l) => l.trim()).filter((l) => l !== "");

/** Advertised although LXD 5.0.2 does not list them (later LXD names for what shoal does). */
const BEYOND_LXD_5_0_2 = new Set(["explicit_trust_token", "server_addresses"]);

/** Why an LXD extension is not advertised: the feature shoal would need first, by pattern. */
const MISSING: [RegExp, string][] = [
  [
    /^(storage_(zfs|lvm|btrfs|ceph|cephfs|rsync|block)|ceph_|storage_driver_ceph)/,
    "storage drivers other than dir (zfs, lvm, btrfs, ceph)",
  ],
  [
    /^(network_(?!leases)|projects_networks|instance_nic_(bridged|routed)|container_nic_|maas_|ovn_|cluster_ovn|infiniband|network_type)/,
    "network types and features beyond a managed bridge with NAT (ovn, sriov, macvlan, acls, forwards, peers, bgp, dns zones)",
  ],
  [
    /^(proxy|unix_|usb_|gpu_|pci_|tpm_|nvidia_|container_disk_|unix_hotplug)/,
    "devices other than nic and disk (proxy, unix, usb, gpu, pci, tpm)",
  ],
  [
    /^(vm_|qemu_|console_vga|agent_|vsock|cpu_hotplug|migration_|container_(stateless_copy|only_migration|snapshot_stateful|push|copy|incremental|local_cross)|cluster_internal_copy|cluster_migration|instance_(pool_move|project_move|allow_inconsistent)|storage_volume_project_move|instance_snapshot_never)/,
    "virtual machines, migration and copies between pools, projects or servers",
  ],
  [/^(?!remote_token).*(snapshot|backup|expiry)/, "snapshots and backups (instance and volume)"],
  [
    /^(resources_)/,
    "GET /1.0/resources' detailed sections (gpu, numa, disks, pci, usb, firmware): shoal reports cpu and memory",
  ],
  [
    /^(image|images_|compression_squashfs|devlxd_images)/,
    "image features: aliases at creation, remote and project caches, replication between members (issue 13), squashfs",
  ],
  [
    /^(candid|macaroon|rbac|auth_pki|trust_ca|certificate_(project|self_renewal)|https_allowed_credentials|server_trusted_proxy|metrics_authentication|remote_token_expiry|event_lifecycle_requestor)/,
    "external authentication, PKI and per-project certificates",
  ],
  [
    /^(container_syscall|seccomp|lxc_features|kernel_|container_(raw_mount|mount_propagation|protection|host_shutdown|stop_priority|cpu_time|image_properties|edit_metadata|backup)|id_map|restrict_devlxd|devlxd|limits_hugepages|linux_sysctl|resource_limits|security_|unix_priv|snapshot_disk|storage_shifted|container_protection_shift)/,
    "container features beyond liblxc's basics (syscall interception, id map overrides, kernel limits, raw mounts, protection flags)",
  ],
  [
    /^(clustering_(evacuation|image_replication)|event_hub)/,
    "day-2 cluster operations (evacuation, image replication) and the event hub",
  ],
  [
    /^(projects_(?!networks)|project_|storage_api_project|storage_volumes_all_projects|certificate_project)/,
    "project features beyond limits and restrictions",
  ],
  [
    /^(storage_(api_|volume|images|unmapped|volatile)|custom_(volume|block)|disk_state_quota|storage_volume_state)/,
    "storage volume features beyond custom filesystem volumes (block, snapshots, refresh, state)",
  ],
  [
    /^(pprof_http|firewall_driver|api_filtering|entity_description|file_get_symlink|usedby_consistency|instance_bulk_state_change|cloud_init|init_preseed|qemu_metrics|network_counters|server_instance_driver_operational)$/,
    "smaller server features not done yet (pprof, firewall driver choice, bulk state changes, cloud-init keys, lxd init's preseed over the API)",
  ],
];

Deno.test("every LXD 5.0.2 extension is advertised or explained by the feature it needs", () => {
  const ours = new Set(API_EXTENSIONS);
  const unexplained: string[] = [];
  const byFeature = new Map<string, string[]>();
  for (const e of LXD) {
    if (ours.has(e)) continue;
    const why = MISSING.find(([re]) => re.test(e))?.[1];
    if (!why) unexplained.push(e);
    else byFeature.set(why, [...(byFeature.get(why) ?? []), e]);
  }
  console.log(
    `${ours.size} advertised, ${LXD.length} in LXD 5.0.2; missing, by the feature that needs them:`,
  );
  for (const [why, list] of byFeature) console.log(`- ${why}: ${list.join(", ")}`);
  assert.deepEqual(unexplained, [], "LXD extensions neither advertised nor explained");
});

Deno.test("every extension advertised is LXD's (or named as beyond it), once", () => {
  const lxd = new Set(LXD);
  assert.deepEqual(API_EXTENSIONS.filter((e) => !lxd.has(e) && !BEYOND_LXD_5_0_2.has(e)), []);
  assert.equal(new Set(API_EXTENSIONS).size, API_EXTENSIONS.length, "an extension listed twice");
});

Deno.test("the extensions the cluster commands of lxc 5.0 check are advertised", () => {
  for (
    const e of [
      "clustering",
      "clustering_join",
      "clustering_roles",
      "clustering_join_token",
      "clustering_edit_roles",
      "clustering_failure_domains",
      "clustering_description",
      "clustering_config",
      "clustering_groups",
      "clustering_update_cert",
      "cluster_join_token_expiry",
      "resources",
    ]
  ) {
    assert.ok(API_EXTENSIONS.includes(e), `${e} is not advertised`);
  }
});
