import type { Env } from "../env";

// Every Durable Object's name, in one place. Names are deterministic, so any Worker or object
// reaches the same instance, and each begins with the tenant id, so tenants never meet (D2).

/** D2: the one object of a user, `{tenantId}:{userId}`. */
export const userObjectName = (tenantId: string, userId: string) => `${tenantId}:${userId}`;

/** The tenant and user a user object's name stands for. */
export function parseUserObjectName(name: string | undefined): { tenantId: string; userId: string } {
  const [tenantId = "", userId = ""] = (name ?? "").split(":");
  return { tenantId, userId };
}

/** An application's subscriptions (and its throttle): `{tenantId}:{appId}`. */
export const appObjectName = (tenantId: string, appId: string) => `${tenantId}:${appId}`;

/** One shard of a user's audience (domain/fanout.ts): `{tenantId}:{userId}:{shard}`. */
export const relayObjectName = (tenantId: string, userId: string, shard: number) => `${tenantId}:${userId}:${shard}`;

/** One hub of a tenant's pool of watch-socket hubs in a region: `{tenantId}:{region}:{index}`. */
export const hubObjectName = (tenantId: string, region: string, index: number) => `${tenantId}:${region}:${index}`;

/** A tenant's read view of one shard of its users in a region (D30): `{tenantId}:{region}:{shard}`. */
export const readViewObjectName = (tenantId: string, region: string, shard: number) => `${tenantId}:${region}:${shard}`;

/** The tenant and region a read view's name stands for. */
export function parseReadViewName(name: string | undefined): { tenantId: string; region: string } {
  const [tenantId = "", region = ""] = (name ?? "").split(":");
  return { tenantId, region };
}

export const userPresenceStub = (env: Env, tenantId: string, userId: string) =>
  env.USER_PRESENCE.getByName(userObjectName(tenantId, userId));

export const subscriptionRegistryStub = (env: Env, tenantId: string, appId: string) =>
  env.SUBSCRIPTION_REGISTRY.getByName(appObjectName(tenantId, appId));

export const appThrottleStub = (env: Env, tenantId: string, appId: string) =>
  env.APP_THROTTLE.getByName(appObjectName(tenantId, appId));

export const fanoutRelayStub = (env: Env, tenantId: string, userId: string, shard: number) =>
  env.FANOUT_RELAY.getByName(relayObjectName(tenantId, userId, shard));

export const presenceHubStub = (env: Env, name: string) => env.PRESENCE_HUB.getByName(name);

export const readViewStub = (env: Env, name: string) => env.READ_VIEW.getByName(name);
