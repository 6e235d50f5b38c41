/**
 * Provider identity: how an orchestrator learns that a gateway holds its listings' provider key before it routes a
 * renter's prompt there. A gateway's GET /v1/info is only a claim; anyone can list another provider's listing ids
 * in it. So the orchestrator sends a fresh random nonce (POST /v1/identity {"nonce": "0x<32 bytes>"}) and the
 * gateway answers with an EIP-191 personal-message signature by its provider key over
 *
 *   PRSM provider gateway identity
 *   chain: <chain id>
 *   marketplace: <marketplace address, lowercase>
 *   gateway: <the gateway's public base URL>
 *   nonce: <the nonce>
 *
 * The orchestrator rebuilds that text from its own values (the chain and deployment it reads, the URL it called,
 * the nonce it drew), recovers the signer, and routes a listing to the gateway only if the signer is the listing's
 * provider on chain. The nonce makes an old answer useless; the URL makes a relayed one useless: a gateway that
 * passes the challenge on to the genuine provider's gateway gets a signature for the genuine gateway's URL, not its
 * own. The gateway therefore signs only for its own configured public URL (GATEWAY_PUBLIC_URL), never for a URL the
 * caller names. Chain and marketplace keep a signature from counting for another deployment.
 */
import { hashMessage, type Address, type Hex } from "viem";
import type { LocalAccount } from "viem/accounts";
import { BadRequest } from "../shared/errors";
import { recoverDigestSigner } from "../shared/recover";

export const IDENTITY_PATH = "/v1/identity";
const NONCE = /^0x[0-9a-fA-F]{64}$/;

export interface IdentityBinding {
  chainId: number;
  marketplace: Address;
  /** The gateway's base URL as orchestrators reach it (normalised with normalizeGatewayUrl). */
  gateway: string;
  nonce: Hex;
}

export interface IdentityProof {
  provider: Address;
  chainId: number;
  gateway: string;
  nonce: Hex;
  signature: Hex;
}

/** One spelling per URL: origin (lowercase scheme and host, default port dropped) plus path without trailing "/". */
export function normalizeGatewayUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

export function identityMessage(b: IdentityBinding): string {
  return [
    "PRSM provider gateway identity",
    `chain: ${b.chainId}`,
    `marketplace: ${b.marketplace.toLowerCase()}`,
    `gateway: ${normalizeGatewayUrl(b.gateway)}`,
    `nonce: ${b.nonce.toLowerCase()}`,
  ].join("\n");
}

/** The signer of a proof for `binding`: what the orchestrator compares with each listing's provider. Throws if unreadable. */
export function recoverIdentity(binding: IdentityBinding, signature: Hex): Address {
  return recoverDigestSigner(hashMessage(identityMessage(binding)), signature);
}

export function isNonce(value: unknown): value is Hex {
  return typeof value === "string" && NONCE.test(value);
}

/** The gateway's side: answers challenges with the provider key, for its own public URL only. */
export class IdentityResponder {
  readonly publicUrl: string;

  constructor(
    private readonly account: LocalAccount,
    private readonly chainId: number,
    private readonly marketplace: Address,
    publicUrl: string,
  ) {
    this.publicUrl = normalizeGatewayUrl(publicUrl);
  }

  async answer(body: unknown): Promise<IdentityProof> {
    const nonce = (body as { nonce?: unknown } | null)?.nonce;
    if (!isNonce(nonce)) throw new BadRequest("nonce must be 32 bytes of hex (0x and 64 hex digits)");
    const message = identityMessage({ chainId: this.chainId, marketplace: this.marketplace, gateway: this.publicUrl, nonce });
    const signature = await this.account.signMessage({ message });
    return { provider: this.account.address, chainId: this.chainId, gateway: this.publicUrl, nonce, signature };
  }
}
