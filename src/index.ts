import { buildApp } from "./app";
import type { Env } from "./env";
import { keepQueueDeadLetters } from "./notifications/dead-letters";
import { deliverNotifications } from "./notifications/deliver";
import type { NotificationJob } from "./notifications/jobs";

export { AppThrottle } from "./objects/app-throttle";
export { DeadLetterStore } from "./objects/dead-letter-store";
export { FanoutRelay } from "./objects/fanout-relay";
export { PresenceHub } from "./objects/presence-hub";
export { ReadView } from "./objects/read-view";
export { SubscriptionRegistry } from "./objects/subscription-registry";
export { UserPresence } from "./objects/user-presence";

const app = buildApp();
const DEAD_LETTER_QUEUE = "presence-notifications-dead";

export default {
  fetch: app.fetch,
  // The dead-letter queue (wrangler.toml) has its own consumer; every other batch is deliveries.
  queue: (batch: MessageBatch<NotificationJob>, env: Env) =>
    batch.queue === DEAD_LETTER_QUEUE ? keepQueueDeadLetters(batch, env) : deliverNotifications(batch, env),
} satisfies ExportedHandler<Env, NotificationJob>;
