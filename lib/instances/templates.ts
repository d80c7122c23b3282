/**
 * An image's templates (metadata.yaml `templates:`), rendered into a new instance's rootfs. The
 * template file is read from the volume's templates/ without crossing any symlink, and the file
 * it makes is written inside the rootfs (files.ts): neither side can reach a host file, whatever
 * the image says.
 */
import { YAML } from "../util/yaml.ts";
import { type ImageMetadata, templateNameOk } from "../images/mod.ts";
import { renderTemplate } from "./config.ts";
import { InRoot } from "./files.ts";
import { archName } from "./procfs.ts";

/** The volume's metadata.yaml, or null when it has none that parses. */
export async function readMetadata(volume: string): Promise<ImageMetadata | null> {
  try {
    using v = new InRoot(volume, { strict: true });
    const { file } = await v.openFile("metadata.yaml");
    return YAML.parse(await new Response(file.readable).text()) as ImageMetadata;
  } catch {
    return null;
  }
}

/** Applies the image's templates for a trigger (create, copy, start) into the rootfs. */
export async function applyTemplates(
  volume: string,
  meta: ImageMetadata | null,
  name: string,
  trigger: string,
): Promise<void> {
  const entries = Object.entries(meta?.templates ?? {});
  if (entries.length === 0) return;
  using image = new InRoot(volume, { strict: true });
  using rootfs = new InRoot(`${volume}/rootfs`);
  for (const [path, t] of entries) {
    if (!(t.when ?? []).includes(trigger) || !templateNameOk(t.template)) continue;
    let text: string;
    try {
      text = await new Response((await image.openFile(`templates/${t.template}`)).file.readable).text();
    } catch {
      // As LXD: a template that is not there (or leaves templates/) renders nothing.
      continue;
    }
    const out = renderTemplate(text, { name, architecture: archName(), trigger });
    await rootfs.writeFile(path, new TextEncoder().encode(out));
  }
}
