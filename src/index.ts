import { buildApp } from "./app";

export { PresenceHub } from "./objects/presence-hub";
export { UserPresence } from "./objects/user-presence";

export default buildApp();
