/** shoal's version, reported as server_version and by `version`. */
export const VERSION = "0.1.0";
