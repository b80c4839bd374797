import { isGuid } from "../domain/ids";
import { badRequest } from "./errors";

/** D2: user ids are GUIDs, matched case-insensitively and kept lower-case. */
export function parseUserId(value: string): string {
  if (!isGuid(value)) {
    throw badRequest(`'${value}' is not a valid user id: use the user's Entra object id (a GUID).`);
  }
  return value.toLowerCase();
}
