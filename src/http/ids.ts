import { badRequest } from "./errors";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(value: string): boolean {
  return GUID.test(value);
}

/** D2: user ids are GUIDs, matched case-insensitively and kept lower-case. */
export function parseUserId(value: string): string {
  if (!isGuid(value)) {
    throw badRequest(`'${value}' is not a valid user id: use the user's Entra object id (a GUID).`);
  }
  return value.toLowerCase();
}
