/** Facts about this machine that GET /1.0 reports; read once, they do not change while running. */
export interface SystemFacts {
  architectures: string[];
  kernel: string;
  kernel_architecture: string;
  kernel_version: string;
  os_name: string;
  os_version: string;
  driver_version: string;
}

let cached: SystemFacts | undefined;

function readOsRelease(): Record<string, string> {
  try {
    const out: Record<string, string> = {};
    for (const line of Deno.readTextFileSync("/etc/os-release").split("\n")) {
      const m = /^(\w+)=(.*)$/.exec(line);
      if (m) out[m[1]!] = m[2]!.replace(/^"|"$/g, "");
    }
    return out;
  } catch {
    return {};
  }
}

function lxcVersion(): string {
  try {
    const out = new Deno.Command("lxc-start", { args: ["--version"], stdout: "piped", stderr: "null" })
      .outputSync();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "";
  }
}

/** Reads the machine's facts (memoized). */
export function systemFacts(): SystemFacts {
  if (cached) return cached;
  const os = readOsRelease();
  const arch = Deno.build.arch === "x86_64" ? "x86_64" : "aarch64";
  cached = {
    architectures: arch === "x86_64" ? ["x86_64", "i686"] : ["aarch64", "armv7l"],
    kernel: "Linux",
    kernel_architecture: arch,
    kernel_version: Deno.osRelease(),
    os_name: os.NAME ?? "Linux",
    os_version: os.VERSION_ID ?? "",
    driver_version: lxcVersion(),
  };
  return cached;
}
