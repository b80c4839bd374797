// The one GUID check of the project: the presence board loads this file as it is, and the
// Worker bundles it (src/domain/ids.ts), so the page and the service agree on what an id is.

/** An Entra ID object id (a user, a tenant, an application): a GUID, in any case. */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** @param {string} value */
export const isGuid = (value) => GUID.test(value);
