/**
 * The addresses a listen address is reachable on, as LXD lists them in tokens and in
 * GET /1.0's `addresses`: a wildcard host expands to the machine's global addresses.
 */
export function listenAddresses(listen: string): string[] {
  if (listen === "") return [];
  const { host, port } = splitHostPort(listen);
  if (host !== "" && host !== "0.0.0.0" && host !== "::") return [joinHostPort(host, port)];
  const out: string[] = [];
  for (const i of Deno.networkInterfaces()) {
    if (i.family === "IPv6" && (host === "0.0.0.0" || i.address.startsWith("fe80"))) continue;
    if (i.address.startsWith("127.") || i.address === "::1") continue;
    out.push(joinHostPort(i.address, port));
  }
  return out;
}

/** Splits "host:port", "[v6]:port", "host" or ":port"; the port defaults to 8443. */
export function splitHostPort(address: string, defaultPort = 8443): { host: string; port: number } {
  const v6 = /^\[([^\]]*)\](?::(\d+))?$/.exec(address);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : defaultPort };
  const colons = address.split(":").length - 1;
  if (colons > 1) return { host: address, port: defaultPort }; // bare IPv6
  const [host, port] = address.split(":");
  return { host: host ?? "", port: port ? Number(port) : defaultPort };
}

/** Joins host and port, bracketing IPv6. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Normalizes a listen address to host:port with LXD's default port 8443. */
export function canonicalAddress(address: string): string {
  const { host, port } = splitHostPort(address);
  return joinHostPort(host, port);
}
