import type { InstanceManager } from "../../instances/mod.ts";
import type { RouteModule } from "../mod.ts";
import { imageRoutes } from "./images.ts";
import { instanceRoutes } from "./instances.ts";
import { profileRoutes } from "./profiles.ts";
import { storageRoutes } from "./storage.ts";
import { networkRoutes } from "./networks.ts";
import { projectNetworkRoutes } from "./project_networks.ts";
import { storageVolumeRoutes } from "./storage_volumes.ts";
import type { NetworkManager } from "../../network/mod.ts";

/** The route modules of a member's resources: images, storage pools, networks, profiles, instances. */
export function resourceRoutes(m: InstanceManager, poolsDir: string, nm: NetworkManager): RouteModule[] {
  return [
    imageRoutes(m),
    storageRoutes(poolsDir),
    storageVolumeRoutes((pool) => m.pool(pool)),
    projectNetworkRoutes,
    networkRoutes(nm),
    profileRoutes,
    instanceRoutes(m),
  ];
}
