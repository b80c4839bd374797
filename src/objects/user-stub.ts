import type { Env } from "../env";

/** D2: the one Durable Object of a user, named inside its tenant so tenants never meet. */
export function userPresenceStub(env: Env, tenantId: string, userId: string) {
  return env.USER_PRESENCE.getByName(`${tenantId}:${userId}`);
}
