/**
 * The API extensions this build implements, in LXD's order. Clients check these before using
 * a feature, and members compare their count before they serve together (upgrade gate), so
 * list exactly what works.
 */
export const API_EXTENSIONS: readonly string[] = [
  "etag",
  "patch",
  "certificate_update",
  "certificate_token",
  "explicit_trust_token",
  "operation_description",
  "event_lifecycle",
  "event_location",
  "event_project",
  "server_addresses",
  "clustering",
  "clustering_join",
  "clustering_server_address",
  "clustering_roles",
  "clustering_join_token",
  // Managing members: PUT/PATCH of a member (roles, failure domain, description, config).
  "clustering_edit_roles",
  "clustering_failure_domains",
  "clustering_description",
  "clustering_config",
  // Instances on a member (issue 6): images, storage, profiles, containers, exec, files.
  "directory_manipulation",
  "profile_usedby",
  "container_exec_recording",
  "container_exec_signal_handling",
  "storage",
  "file_delete",
  "file_append",
  "file_symlinks",
  "console",
  "container_full",
  "container_exec_user_group_cwd",
  "instances",
  "api_filtering",
  "instance_get_full",
  // Managed bridges with NAT and dnsmasq, nics on them (issue 14).
  "network",
  "network_leases",
  "network_leases_location",
  "instance_nic_network",
  // Custom volumes per member, attached to instances as disk devices (issue 14).
  "storage_api_volume_rename",
  // Projects (issue 18): features, limits and restrictions, enforced cluster-wide.
  "projects",
  "projects_limits",
  "projects_restrictions",
  "projects_limits_disk",
  "projects_limits_instances",
  "project_usage",
  "instance_all_projects",
  // GET /1.0/metrics in Prometheus text, certificates of type metrics; CPU time in seconds (issue 17).
  "metrics",
  "metrics_cpu_seconds",
  // Any member serves any instance (issue 12): ?target= views, placement, groups, and the
  // extensions of features shoal had without saying so (the real lxc refused them).
  "clustering_groups",
  "resources",
  "api_os",
  "container_last_used_at",
  "clustering_architecture",
  "clustering_sizing",
  "database_leader",
  "clustering_update_cert",
  "server_supported_storage_drivers",
  "instance_file_head",
  "cluster_join_token_expiry",
  // Evacuation and restore of a member (issue 13).
  "clustering_evacuation",
  // Moving, copying and renaming instances between members (issue 13): `live` in a move or copy
  // request, instance_only, and a copy's source in another project.
  "container_stateless_copy",
  "container_only_migration",
  "container_copy_project",
  // /1.0/warnings: members' warnings, cluster-wide (an offline member).
  "warnings",
  // storage.images_volume and storage.backups_volume: a member's images on a custom volume.
  "daemon_storage",
];
