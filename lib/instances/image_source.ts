/**
 * The image a create request names (source.fingerprint, or source.alias, which LXD also reads
 * as a fingerprint), in the project whose images the instance's project uses.
 */
import { findImage, getAlias, imageProjectId, type ReadTx } from "../db/mod.ts";
import { badRequest, notFound, StatusError } from "../util/mod.ts";
import type { InstancesPost } from "./types.ts";

/** The fingerprint of a create request's image; 404 "Image not found" when there is none. */
export function imageOfSource(
  tx: ReadTx,
  project: string,
  source: NonNullable<InstancesPost["source"]>,
): string {
  const images = imageProjectId(tx, project);
  if (source.fingerprint) return findImage(tx, source.fingerprint, images).fingerprint;
  if (source.alias) {
    try {
      return getAlias(tx, source.alias, images).target;
    } catch (e) {
      if (e instanceof StatusError && e.status === 404) {
        // LXD also takes a fingerprint where an alias is expected.
        try {
          return findImage(tx, source.alias, images).fingerprint;
        } catch { /* fall through */ }
        throw notFound("Image not found");
      }
      throw e;
    }
  }
  throw badRequest("Must specify one of alias or fingerprint for init from image");
}
