import { buildApp } from "./app";

export { AppThrottle } from "./objects/app-throttle";
export { UserPresence } from "./objects/user-presence";

export default buildApp();
