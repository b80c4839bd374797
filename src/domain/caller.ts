/** Who is calling, from a verified token's Entra ID claims, and until when the token holds. */
export type Caller = (
  | { kind: "delegated"; tenantId: string; userId: string; appId: string; scopes: ReadonlySet<string> }
  | { kind: "application"; tenantId: string; appId: string; roles: ReadonlySet<string> }
) & {
  /** The token's `exp` (epoch ms): what the caller opened lives no longer (D27). */
  expiresAt: number;
};

/** A caller as text, to hand to an object that holds a socket (Sets do not survive JSON). */
export function serializeCaller(caller: Caller): string {
  return JSON.stringify(
    caller.kind === "delegated" ? { ...caller, scopes: [...caller.scopes] } : { ...caller, roles: [...caller.roles] },
  );
}

export function deserializeCaller(text: string): Caller {
  const raw = JSON.parse(text);
  return raw.kind === "delegated" ? { ...raw, scopes: new Set(raw.scopes) } : { ...raw, roles: new Set(raw.roles) };
}

/** Whether `next` is the same principal as `caller`: same tenant, application and user (D27). */
export function isSamePrincipal(caller: Caller, next: Caller): boolean {
  if (caller.tenantId !== next.tenantId || caller.appId !== next.appId || caller.kind !== next.kind) return false;
  return caller.kind === "application" || (next.kind === "delegated" && caller.userId === next.userId);
}
