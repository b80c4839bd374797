// The service over HTTP, as the signed-in user: the same Graph routes any client uses.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The claims of a JWT, read without verifying it (the service verifies; the page only shows them). */
export function tokenClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

async function send(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new ApiError(response.status, json?.error?.code ?? "", json?.error?.message ?? `HTTP ${response.status}`);
  }
  return json;
}

/** True where the service has a dev token endpoint (local development); asked of a route that always answers 200. */
export async function devTokensAvailable() {
  try {
    const response = await fetch("/board/settings");
    return response.ok && (await response.json()).devTokens === true;
  } catch {
    return false;
  }
}

/** A dev token for `userId` (local development only). */
export async function fetchDevToken(userId) {
  const answer = await send("POST", "/dev/token", { body: userId ? { userId } : {} });
  return answer.access_token;
}

/** The signed-in user's own presence actions. */
export class Me {
  constructor(token) {
    this.token = token;
    this.claims = tokenClaims(token) ?? {};
  }

  presence() {
    return send("GET", "/v1.0/me/presence", { token: this.token });
  }

  action(name, body) {
    return send("POST", `/v1.0/me/presence/${name}`, { token: this.token, body });
  }
}
