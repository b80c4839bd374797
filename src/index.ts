import { buildApp } from "./app";

export { UserPresence } from "./objects/user-presence";

export default buildApp();
