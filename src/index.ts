import { buildApp } from "./app";
import type { Env } from "./env";
import { deliverNotifications } from "./notifications/deliver";
import type { NotificationJob } from "./notifications/jobs";

export { AppThrottle } from "./objects/app-throttle";
export { FanoutRelay } from "./objects/fanout-relay";
export { PresenceHub } from "./objects/presence-hub";
export { ReadView } from "./objects/read-view";
export { SubscriptionRegistry } from "./objects/subscription-registry";
export { UserPresence } from "./objects/user-presence";

const app = buildApp();

export default {
  fetch: app.fetch,
  queue: (batch: MessageBatch<NotificationJob>, env: Env) => deliverNotifications(batch, env),
} satisfies ExportedHandler<Env, NotificationJob>;
