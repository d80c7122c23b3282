/**
 * The API extensions this build implements, in LXD's order. Clients check these before using
 * a feature, and members compare their count before they serve together (upgrade gate), so
 * list exactly what works.
 */
export const API_EXTENSIONS: readonly string[] = [
  "etag",
  "patch",
  "network",
  "certificate_update",
  "certificate_token",
  "explicit_trust_token",
  "operation_description",
  "event_lifecycle",
  "event_location",
  "event_project",
  "server_addresses",
  "certificate_self_renewal",
];
