/**
 * Durable Raft state: the log, the hard state and snapshot metadata in SQLite, synced before
 * the messages that depend on them are sent.
 * @module
 */
export * from "./sqlite_storage.ts";
