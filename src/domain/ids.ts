// D2: user, tenant and application ids are GUIDs. The rule itself lives in public/guid.js,
// which the presence board loads as it is, so the page and the service share one check.
export { GUID, isGuid } from "../../public/guid.js";
