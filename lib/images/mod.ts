/**
 * LXD-format images on one member: unified tarballs (metadata.yaml + rootfs/), fingerprinted
 * with SHA-256 of the file and kept under $SHOAL_DIR/images.
 * @module
 */
export * from "./tarball.ts";
export * from "./store.ts";
export * from "./validate.ts";
