import type { InstanceManager } from "../../instances/mod.ts";
import type { RouteModule } from "../mod.ts";
import { imageRoutes } from "./images.ts";
import { instanceRoutes } from "./instances.ts";
import { profileRoutes } from "./profiles.ts";
import { storageRoutes } from "./storage.ts";

/** The route modules of a member's resources: images, storage pools, profiles, instances. */
export function resourceRoutes(m: InstanceManager, poolsDir: string): RouteModule[] {
  return [imageRoutes(m), storageRoutes(poolsDir), profileRoutes, instanceRoutes(m)];
}
