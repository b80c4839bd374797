import { SignJWT } from "jose";

export const TENANT = "7f1d2c3b-0000-4000-8000-00000000c0de";
export const secret = `reliability-${crypto.randomUUID()}`;

export const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

/** An application token signed with the runtime's test secret. */
export function appToken(appId: string, roles: string[]) {
  return new SignJWT({ tid: TENANT, appid: appId, roles })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(secret));
}
