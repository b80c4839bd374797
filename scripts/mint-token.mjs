#!/usr/bin/env node
// Prints a development token, shaped like an Entra ID access token and signed
// with the local HS256 secret (AUTH_HS256_SECRET from the environment, else
// .dev.vars, else .dev.vars.example).
//
//   npm run -s token -- --user <guid> --scopes "Presence.Read Presence.ReadWrite"
//   npm run -s token -- --roles "Presence.ReadWrite.All"        (application token)
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { isGuid } from "../public/guid.js";
// The dev tenant, user and app, shared with the Worker's dev token endpoint (POST /dev/token).
import DEV_IDENTITY from "../src/dev/identity.json" with { type: "json" };

const DEFAULTS = { ...DEV_IDENTITY, scopes: "Presence.Read Presence.Read.All Presence.ReadWrite" };

const { values } = parseArgs({
  options: {
    tenant: { type: "string", default: DEFAULTS.tenant },
    user: { type: "string", default: DEFAULTS.user },
    app: { type: "string", default: DEFAULTS.app },
    scopes: { type: "string" },
    roles: { type: "string" },
    expires: { type: "string", default: "3600" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(`Usage: npm run -s token -- [--tenant GUID] [--user GUID] [--app GUID]
                          [--scopes "Presence.Read ..."] [--roles "Presence.ReadWrite.All ..."] [--expires SECONDS]
A token with --roles and no --scopes is an application token; otherwise it is delegated
(default scopes: "${DEFAULTS.scopes}"). Defaults: tenant ${DEFAULTS.tenant}, user ${DEFAULTS.user}, app ${DEFAULTS.app}.`);
  process.exit(0);
}

// The service refuses a token whose tenant, user or application id is not a GUID: say so here.
for (const name of ["tenant", "user", "app"]) {
  if (!isGuid(values[name])) {
    console.error(`--${name} '${values[name]}' is not a GUID (Entra ID ids are GUIDs).`);
    process.exit(1);
  }
}

function secretFromFile(path) {
  if (!existsSync(path)) return undefined;
  const line = readFileSync(path, "utf8")
    .split(/\r?\n/)
    .find((l) => /^\s*AUTH_HS256_SECRET\s*=/.test(l));
  return line
    ?.replace(/^\s*AUTH_HS256_SECRET\s*=\s*/, "")
    .replace(/^["']|["']$/g, "")
    .trim();
}

const secret = process.env.AUTH_HS256_SECRET ?? secretFromFile(".dev.vars") ?? secretFromFile(".dev.vars.example");
if (!secret) {
  console.error("No AUTH_HS256_SECRET: set it in the environment or in .dev.vars.");
  process.exit(1);
}

const claims = { tid: values.tenant, appid: values.app };
if (values.roles !== undefined && values.scopes === undefined) {
  claims.roles = values.roles.split(/[\s,]+/).filter(Boolean);
} else {
  claims.oid = values.user;
  claims.scp = values.scopes ?? DEFAULTS.scopes;
  if (values.roles !== undefined) claims.roles = values.roles.split(/[\s,]+/).filter(Boolean);
}

const token = await new SignJWT(claims)
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setIssuedAt()
  .setExpirationTime(`${Number(values.expires)}s`)
  .sign(new TextEncoder().encode(secret));
console.log(token);
