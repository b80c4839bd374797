import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CHANGE_TRACKING_APP_ID } from "../../src/notifications/validation-tokens";
import { APP, appToken, call, getPresence, newUserId, TENANT, userToken } from "../helpers";
import { WebhookReceiver } from "../webhooks";

let receiver: WebhookReceiver;
beforeEach(() => {
  receiver = new WebhookReceiver().install();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** A subscriber's certificate and private key, as a Graph receiver would hold them. */
async function subscriberCertificate(modulusLength = 2048) {
  const algorithm = {
    name: "RSASSA-PKCS1-v1_5",
    hash: "SHA-256",
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength,
  };
  const keys = (await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: "01",
      name: "CN=Presence receiver",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: algorithm,
      keys,
    },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const decryptionKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "RSA-OAEP", hash: "SHA-1" }, false, [
    "decrypt",
  ]);
  const thumbprint = [...new Uint8Array(await crypto.subtle.digest("SHA-1", certificate.rawData))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
  return { base64: certificate.toString("base64"), decryptionKey, thumbprint };
}

/** Decrypts encryptedContent exactly as Graph's documentation tells a receiver to: HMAC first, then AES-CBC. */
async function decrypt(
  content: { data: string; dataSignature: string; dataKey: string },
  decryptionKey: CryptoKey,
): Promise<unknown> {
  const key = new Uint8Array(
    await crypto.subtle.decrypt({ name: "RSA-OAEP" }, decryptionKey, fromBase64(content.dataKey)),
  );
  const hmacKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const data = fromBase64(content.data);
  if (!(await crypto.subtle.verify("HMAC", hmacKey, fromBase64(content.dataSignature), data))) {
    throw new Error("dataSignature does not match: the data was changed");
  }
  const aesKey = await crypto.subtle.importKey("raw", key, "AES-CBC", false, ["decrypt"]);
  const plaintext = await crypto.subtle.decrypt({ name: "AES-CBC", iv: key.slice(0, 16) }, aesKey, data);
  return JSON.parse(new TextDecoder().decode(plaintext));
}

describe("rich notifications (includeResourceData)", () => {
  it("carry the presence encrypted as Graph does, with validation tokens verifiable against our JWKS", async () => {
    const user = newUserId();
    const cert = await subscriberCertificate();
    const created = await call(`/v1.0/subscriptions`, {
      method: "POST",
      token: await appToken(["Presence.Read.All"]),
      body: {
        changeType: "updated",
        notificationUrl: "http://receiver.test/rich",
        resource: `/communications/presences/${user}`,
        expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString(),
        includeResourceData: true,
        encryptionCertificate: cert.base64,
        encryptionCertificateId: "receiver-cert-1",
      },
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      includeResourceData: true,
      encryptionCertificateId: "receiver-cert-1",
    });

    await call(`/v1.0/users/${user}/presence/setPresence`, {
      token: await appToken(),
      body: { sessionId: APP, availability: "DoNotDisturb", activity: "Presenting", expirationDuration: "PT1H" },
    });
    const [delivery] = await receiver.waitFor(1);
    const item = delivery?.body.value[0] as { encryptedContent: Record<string, string> };
    expect(item.encryptedContent).toMatchObject({
      encryptionCertificateId: "receiver-cert-1",
      encryptionCertificateThumbprint: cert.thumbprint,
    });
    const decrypted = await decrypt(item.encryptedContent as never, cert.decryptionKey);
    const { "@odata.context": _context, ...presence } = await getPresence(
      `/v1.0/users/${user}/presence`,
      await appToken(["Presence.Read.All"]),
    );
    expect(decrypted).toEqual({
      "@odata.id": `users/${user}/presence`,
      "@odata.type": "#microsoft.graph.presence",
      ...presence,
    });

    const jwks = await (await call(`/.well-known/jwks.json`)).json();
    const [tokenText] = delivery?.body.validationTokens ?? [];
    const { payload } = await jwtVerify(tokenText as string, createLocalJWKSet(jwks as never), { audience: APP });
    expect(payload).toMatchObject({ tid: TENANT, azp: CHANGE_TRACKING_APP_ID, aud: APP });
  });

  it("show the owner's own status message details only to a delegated subscriber watching themself", async () => {
    const me = newUserId();
    const cert = await subscriberCertificate();
    const token = await userToken(me, "Presence.Read.All Presence.ReadWrite");
    const created = await call(`/v1.0/subscriptions`, {
      method: "POST",
      token,
      body: {
        changeType: "updated",
        notificationUrl: "http://receiver.test/mine",
        resource: `/communications/presences/${me}`,
        expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString(),
        includeResourceData: true,
        encryptionCertificate: cert.base64,
        encryptionCertificateId: "mine",
      },
    });
    expect(created.status).toBe(201);
    await call(`/v1.0/me/presence/setStatusMessage`, {
      token,
      body: { statusMessage: { message: { content: "Heads down" } } },
    });
    const [delivery] = await receiver.waitFor(1);
    const item = delivery?.body.value[0] as { encryptedContent: Record<string, string> };
    const decrypted = (await decrypt(item.encryptedContent as never, cert.decryptionKey)) as {
      statusMessage: Record<string, unknown>;
    };
    expect(decrypted.statusMessage).toHaveProperty("publishedDateTime");
  });

  it("refuses an RSA key under 2048 bits", async () => {
    const cert = await subscriberCertificate(1024);
    const response = await call(`/v1.0/subscriptions`, {
      method: "POST",
      token: await appToken(["Presence.Read.All"]),
      body: {
        changeType: "updated",
        notificationUrl: "http://receiver.test/weak",
        resource: `/communications/presences/${newUserId()}`,
        expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString(),
        includeResourceData: true,
        encryptionCertificate: cert.base64,
        encryptionCertificateId: "weak",
      },
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/1024 bits; 2048 to 4096 are accepted/);
  });
});
