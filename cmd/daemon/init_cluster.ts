import { Client, fetchServerCertificate } from "../../lib/client/mod.ts";
import { statePaths } from "../../lib/daemon/paths.ts";
import { fingerprint, readKeyPair } from "../../lib/tls/mod.ts";
import { splitHostPort } from "../../lib/util/mod.ts";
import { decodeToken } from "../../lib/wire/tokens.ts";
import type { InitQuestions, Preseed, PreseedSection } from "./preseed.ts";

/** The `cluster:` section of LXD's preseed. */
interface ClusterSection {
  server_name?: string;
  enabled?: boolean;
  server_address?: string;
  cluster_address?: string;
  cluster_certificate?: string;
  cluster_certificate_path?: string;
  cluster_password?: string;
  cluster_token?: string;
  member_config?: { entity: string; name: string; key: string; value: string }[];
}

function section(p: Preseed): ClusterSection {
  const c = p.cluster;
  if (c === null || c === undefined) return {};
  if (typeof c !== "object" || Array.isArray(c)) {
    throw new Error("Invalid preseed: cluster must be a mapping");
  }
  return c as ClusterSection;
}

async function applyCluster(client: Client, p: Preseed): Promise<void> {
  const c = section(p);
  if (!c.enabled) return;
  if (c.cluster_token) {
    try {
      const d = decodeToken(c.cluster_token);
      if (d.kind !== "join") throw new Error("not a cluster join token");
    } catch (e) {
      throw new Error(`Invalid cluster join token: ${e instanceof Error ? e.message : e}`);
    }
  }
  let cert = c.cluster_certificate ?? "";
  if (cert === "" && c.cluster_certificate_path) {
    try {
      cert = await Deno.readTextFile(c.cluster_certificate_path);
    } catch (e) {
      throw new Error(
        `Failed to read cluster_certificate_path "${c.cluster_certificate_path}": ${
          e instanceof Error ? e.message : e
        }`,
      );
    }
  }
  const joining = Boolean(c.cluster_address || c.cluster_token);
  if (!joining) {
    await client.runOperation("PUT", "/1.0/cluster", {
      body: { server_name: c.server_name ?? "", enabled: true },
    });
    return;
  }
  if (!c.cluster_token && !c.cluster_password) {
    throw new Error("Joining a cluster needs cluster_token, or cluster_password with cluster_certificate");
  }
  await client.runOperation("PUT", "/1.0/cluster", {
    body: {
      server_name: c.server_name ?? "",
      enabled: true,
      server_address: c.server_address ?? "",
      cluster_address: c.cluster_address ?? "",
      cluster_certificate: cert,
      cluster_token: c.cluster_token ?? "",
      cluster_password: c.cluster_password ?? "",
      member_config: c.member_config ?? [],
    },
  });
}

/** `cluster:` of the preseed: bootstrap or join, after the pools a joiner must match. */
export const clusterSection: PreseedSection = { name: "cluster", order: 90, apply: applyCluster };

// The clustering questions of `lxd init`, asked first.
export const clusterQuestions: InitQuestions = async (p, ask, askBool) => {
  if (!await askBool("Would you like to use LXD clustering? (yes/no) [default=no]: ", false)) return;
  const host = Deno.hostname();
  const address = await ask(
    `What IP address or DNS name should be used to reach this server? [default=127.0.0.1]: `,
    "127.0.0.1",
  );
  const serverAddress = address.includes(":") && !address.startsWith("[") ? address : `${address}:8443`;
  const joining = await askBool("Are you joining an existing cluster? (yes/no) [default=no]: ", false);
  const c: ClusterSection = { enabled: true, server_address: serverAddress };
  p.config = { ...(p.config ?? {}), "core.https_address": serverAddress };
  if (!joining) {
    c.server_name = await ask(
      `What member name should be used to identify this server in the cluster? [default=${host}]: `,
      host,
    );
    p.cluster = c as Record<string, unknown>;
    return;
  }
  const tokenAnswer = await ask("Do you have a join token? (yes/no/[token]) [default=no]: ", "no");
  if (["yes", "y"].includes(tokenAnswer.toLowerCase())) {
    c.cluster_token = await ask("Please provide join token: ", "");
  } else if (!["no", "n"].includes(tokenAnswer.toLowerCase())) {
    c.cluster_token = tokenAnswer;
  } else {
    c.server_name = await ask(
      `What member name should be used to identify this server in the cluster? [default=${host}]: `,
      host,
    );
    c.cluster_address = await ask(
      "IP address or FQDN of an existing cluster member (may include port): ",
      "",
    );
    if (!c.cluster_address.includes(":")) c.cluster_address += ":8443";
    // As lxd init: show the certificate the member answers with, and join only once the user
    // confirms it (or types the fingerprint they expect).
    const target = splitHostPort(c.cluster_address);
    const cert = await fetchServerCertificate(target.host, target.port, 10_000).catch((e) => {
      throw new Error(
        `Unable to connect to the cluster member at ${c.cluster_address}: ${
          e instanceof Error ? e.message : e
        }`,
      );
    });
    const fp = await fingerprint(cert);
    console.log(`Cluster fingerprint: ${fp}`);
    console.log(
      'You can validate this fingerprint by running "lxc info" locally on an existing cluster member.',
    );
    const answer = (await ask("Is this the correct fingerprint? (yes/no/[fingerprint]) [default=no]: ", "no"))
      .toLowerCase();
    if (answer !== fp && !["yes", "y"].includes(answer)) throw new Error("User aborted configuration");
    c.cluster_certificate = cert;
    c.cluster_password = await ask("Cluster trust password: ", "");
  }
  await askMemberConfig(c, ask);
  if (
    !await askBool(
      "All existing data is lost when joining a cluster, continue? (yes/no) [default=no] ",
      false,
    )
  ) {
    throw new Error("User aborted configuration");
  }
  p.cluster = c as Record<string, unknown>;
};

/** The member that answers for a token: the first address whose certificate the token pins. */
async function locate(token: string): Promise<{ address: string; cert: string }> {
  const t = decodeToken(token);
  if (t.kind !== "join") throw new Error("Invalid cluster join token: not a cluster join token");
  for (const address of t.token.addresses) {
    const { host, port } = splitHostPort(address);
    const cert = await fetchServerCertificate(host, port, 5_000).catch(() => null);
    if (cert === null) continue;
    if (await fingerprint(cert) !== t.token.fingerprint) {
      throw new Error(`Certificate fingerprint mismatch between join token and cluster member "${address}"`);
    }
    return { address, cert };
  }
  throw new Error("Cannot connect to any of the cluster members specified in join token");
}

/**
 * As lxd init: become trusted by the cluster with this server's certificate (the token or the
 * password vouches for it), then ask for each member-specific key the cluster's pools need.
 */
async function askMemberConfig(
  c: ClusterSection,
  ask: (q: string, def: string) => Promise<string>,
): Promise<void> {
  let address = c.cluster_address ?? "";
  let cert = c.cluster_certificate ?? "";
  if (c.cluster_token) ({ address, cert } = await locate(c.cluster_token));
  const own = await readKeyPair(statePaths().dir, "server");
  if (!own) throw new Error(`No server certificate in ${statePaths().dir}: is shoald running there?`);
  const client = new Client({ kind: "https", url: `https://${address}`, serverCert: cert, clientCert: own });
  try {
    await client.request("POST", "/1.0/certificates", {
      body: {
        type: "server",
        name: c.server_name ?? "",
        certificate: own.cert.replace(/-----[A-Z ]+-----|\s/g, ""),
        password: c.cluster_token ?? c.cluster_password ?? "",
      },
    }).catch((e) => {
      if (!/already in trust store/.test(e instanceof Error ? e.message : String(e))) {
        throw new Error(`Failed setting up cluster trust: ${e instanceof Error ? e.message : e}`);
      }
    });
    const info = await client.get<{ member_config?: MemberConfig[] }>("/1.0/cluster");
    const answers: MemberConfig[] = [];
    for (const k of info.member_config ?? []) {
      const entity = k.entity === "storage-pool" ? "storage pool" : k.entity;
      const value = await ask(`Choose "${k.key}" property for ${entity} "${k.name}": `, "");
      if (value !== "") answers.push({ ...k, value });
    }
    if (answers.length > 0) c.member_config = answers;
  } finally {
    client.close();
  }
}

type MemberConfig = NonNullable<ClusterSection["member_config"]>[number];
