import { logStorageSuite } from "../log_storage_suite.ts";
import { SimStorage } from "./storage.ts";

// The simulated disk is the object itself: a restarted member finds the same one.
logStorageSuite("simulator, in memory", () => {
  const storage = new SimStorage({ voters: [1], standbys: [], spares: [] }, new Uint8Array());
  return { storage, reopen: () => storage, close: () => {} };
});
