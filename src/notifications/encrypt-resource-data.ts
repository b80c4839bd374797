import type { EncryptionCertificate } from "./certificate";

export interface EncryptedContent {
  data: string;
  dataSignature: string;
  dataKey: string;
  encryptionCertificateId: string;
  encryptionCertificateThumbprint: string;
}

function toBase64(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Encrypts rich-notification resource data as Microsoft Graph does, so a
 * receiver written for Graph decrypts it unchanged (spec 5.4): a fresh
 * 32-byte key; AES-256-CBC with PKCS7 padding and the key's first 16 bytes as
 * IV; an HMAC-SHA256 of the ciphertext under the same key; the key wrapped with
 * RSA-OAEP (SHA-1) for the subscriber's certificate.
 */
export async function encryptResourceData(
  resource: unknown,
  certificate: EncryptionCertificate,
  certificateId: string,
): Promise<EncryptedContent> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const aesKey = await crypto.subtle.importKey("raw", key, "AES-CBC", false, ["encrypt"]);
  const plaintext = new TextEncoder().encode(JSON.stringify(resource));
  const data = await crypto.subtle.encrypt({ name: "AES-CBC", iv: key.slice(0, 16) }, aesKey, plaintext);
  const hmacKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = await crypto.subtle.sign("HMAC", hmacKey, data);
  const rsaKey = await crypto.subtle.importKey("spki", certificate.spki, { name: "RSA-OAEP", hash: "SHA-1" }, false, [
    "encrypt",
  ]);
  const wrapped = await crypto.subtle.encrypt({ name: "RSA-OAEP" }, rsaKey, key);
  return {
    data: toBase64(data),
    dataSignature: toBase64(signature),
    dataKey: toBase64(wrapped),
    encryptionCertificateId: certificateId,
    encryptionCertificateThumbprint: certificate.thumbprint,
  };
}
