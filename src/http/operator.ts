import type { Context } from "hono";
import { readConfig } from "../config";
import type { AppEnv } from "./context";
import { GraphError, notFound } from "./errors";

const digest = (text: string) => crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));

/**
 * The operator routes (`/ops`) answer only `Authorization: Bearer <OPERATOR_TOKEN>`, compared in
 * constant time. Without the secret they do not exist: the same 404 as any unknown path. The
 * operator is not a tenant's user or application, so tenants' tokens never open them
 * (docs/operations.md, "Dead letters").
 */
export async function requireOperator(c: Context<AppEnv>): Promise<void> {
  const token = readConfig(c.env).operatorToken;
  if (!token) throw notFound(`No resource at '${new URL(c.req.url).pathname}'.`);
  const given = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  // Digests have one length, so the comparison takes the same time whatever was sent.
  if (!crypto.subtle.timingSafeEqual(await digest(given), await digest(token))) {
    throw new GraphError(401, "InvalidAuthenticationToken", "The operator token is missing or wrong.", {
      "WWW-Authenticate": 'Bearer realm="graph-presence-edge operations"',
    });
  }
}
