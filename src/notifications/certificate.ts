import { RSAPublicKey } from "@peculiar/asn1-rsa";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { InvalidInput } from "../domain/errors";

const RSA_ENCRYPTION_OID = "1.2.840.113549.1.1.1";

export interface EncryptionCertificate {
  /** The public key, as SubjectPublicKeyInfo DER, for WebCrypto's importKey("spki"). */
  spki: Uint8Array;
  modulusBits: number;
  /** Upper-case hex SHA-1 of the certificate's DER, as Graph's encryptionCertificateThumbprint. */
  thumbprint: string;
}

function base64ToBytes(text: string): Uint8Array {
  const clean = text.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  const binary = atob(clean);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("")
    .toUpperCase();
}

/**
 * Reads a subscriber's `encryptionCertificate` (base64 X.509, spec 5.1): it
 * must hold an RSA public key of 2048 to 4096 bits.
 */
export async function parseEncryptionCertificate(base64: string): Promise<EncryptionCertificate> {
  let der: Uint8Array;
  let certificate: Certificate;
  try {
    der = base64ToBytes(base64);
    certificate = AsnConvert.parse(der, Certificate);
  } catch {
    throw new InvalidInput("encryptionCertificate is not a base64-encoded X.509 certificate.");
  }
  const info = certificate.tbsCertificate.subjectPublicKeyInfo;
  if (info.algorithm.algorithm !== RSA_ENCRYPTION_OID) {
    throw new InvalidInput("encryptionCertificate must hold an RSA public key.");
  }
  const rsa = AsnConvert.parse(info.subjectPublicKey, RSAPublicKey);
  let modulus = new Uint8Array(rsa.modulus);
  while (modulus.length > 0 && modulus[0] === 0) modulus = modulus.subarray(1);
  const modulusBits = modulus.length * 8;
  if (modulusBits < 2048 || modulusBits > 4096) {
    throw new InvalidInput(`encryptionCertificate's RSA key has ${modulusBits} bits; 2048 to 4096 are accepted.`);
  }
  return {
    spki: new Uint8Array(AsnConvert.serialize(info)),
    modulusBits,
    thumbprint: hex(await crypto.subtle.digest("SHA-1", der)),
  };
}
