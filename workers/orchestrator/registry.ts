/**
 * Which provider gateways serve which listings. The orchestrator is given gateway URLs (PROVIDER_GATEWAYS); each
 * gateway says which listings it serves (GET /v1/info), and that is only a claim. At every refresh the orchestrator
 * challenges each gateway (POST /v1/identity with a fresh nonce, see provider-gateway/identity.ts) and recovers the
 * key that signed the answer: a listing is routed to a gateway only if that key is the listing's provider on chain,
 * and only while the listing is active. So a gateway cannot pose as another provider (it would receive that
 * provider's renters' prompts and return forged answers): it cannot sign for the other provider's key, its claims
 * are ignored, and they never displace the listing from the genuine provider's gateway.
 *
 * A gateway that fails the challenge (wrong key, bad signature, no answer to it) loses every listing it had: nothing
 * is routed to it until it passes again. A gateway that cannot be reached at all at a refresh keeps what it had last
 * proven: routing then finds it down on the request and moves on to the next candidate, which is what ranking is for.
 * When several verified gateways serve one listing (one provider running several), the first configured wins.
 */
import { randomBytes } from "node:crypto";
import type { Address, Hex } from "viem";
import { readListing, type ChainReader, type Listing } from "../shared/chain";
import type { Logger } from "../shared/logger";
import { IDENTITY_PATH, normalizeGatewayUrl, recoverIdentity } from "../provider-gateway/identity";

export interface ServedListing {
  listingId: bigint;
  gateway: string;
  listing: Listing;
  /** The model name the gateway serves (GET /v1/info `model`): a model id routing matches. */
  model: string;
  /** When this orchestrator first saw the listing served (unix seconds; /v1/models `created`). */
  since: number;
}

interface GatewayInfo {
  provider: Address;
  chainId: number;
  model: string;
  listings: { listingId: string }[];
}

interface GatewayState {
  /** The key that signed the gateway's latest identity proof, if it passed. */
  provider?: Address;
  listings: Map<string, ServedListing>;
}

const TIMEOUT_MS = 5_000;
const LISTING_ID = /^[1-9]\d{0,19}$/;

export class ProviderRegistry {
  private readonly states = new Map<string, GatewayState>();
  private served = new Map<string, ServedListing>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ctx: ChainReader,
    private readonly gateways: string[],
    private readonly log: Logger,
  ) {}

  async start(refreshMs: number): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch((e: Error) => this.log.warn({ err: e.message }, "registry refresh failed")), refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get(listingId: bigint): ServedListing | undefined {
    return this.served.get(listingId.toString());
  }

  all(): ServedListing[] {
    return [...this.served.values()];
  }

  /** Each configured gateway and the provider key it last proved (undefined: not verified, nothing routed to it). */
  verification(): { gateway: string; provider?: Address; listings: string[] }[] {
    return this.gateways.map((gateway) => {
      const s = this.states.get(gateway);
      return { gateway, provider: s?.provider, listings: [...(s?.listings.keys() ?? [])] };
    });
  }

  async refresh(): Promise<void> {
    await Promise.all(this.gateways.map((gateway) => this.refreshGateway(gateway)));
    // Rebuilt from the per-gateway states, in configuration order, so a refresh's timing decides nothing.
    const served = new Map<string, ServedListing>();
    for (const gateway of this.gateways) {
      for (const [id, s] of this.states.get(gateway)?.listings ?? []) if (!served.has(id)) served.set(id, s);
    }
    this.served = served;
  }

  private async refreshGateway(gateway: string): Promise<void> {
    let info: GatewayInfo;
    try {
      const res = await fetch(`${gateway}/v1/info`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (!res.ok) throw new Error(`status ${res.status}`);
      info = (await res.json()) as GatewayInfo;
    } catch (error) {
      this.log.warn({ gateway, err: (error as Error).message }, "gateway unreachable; keeping its last verified listings");
      return;
    }
    const refuse = (reason: string, details: Record<string, unknown> = {}) => {
      const had = this.states.get(gateway)?.listings.size ?? 0;
      this.states.set(gateway, { listings: new Map() });
      this.log.warn({ gateway, ...details, dropped: had }, reason);
    };
    if (info?.chainId !== this.ctx.chain.id) return refuse("gateway is on another chain; nothing is routed to it", { chainId: info?.chainId });
    let provider: Address;
    try {
      provider = await this.challenge(gateway);
    } catch (error) {
      if (error instanceof GatewayUnreachable) {
        this.log.warn({ gateway, err: error.message }, "gateway unreachable during the identity challenge; keeping its last verified listings");
        return;
      }
      return refuse("gateway failed the identity challenge; nothing is routed to it", { err: (error as Error).message });
    }
    if (typeof info.provider === "string" && info.provider.toLowerCase() !== provider.toLowerCase()) {
      this.log.warn({ gateway, declared: info.provider, proven: provider }, "gateway declares another provider than the key it proved; only the proven key counts");
    }
    const previous = this.states.get(gateway)?.listings;
    const listings = new Map<string, ServedListing>();
    for (const entry of Array.isArray(info.listings) ? info.listings : []) {
      const listingId = String(entry?.listingId);
      if (!LISTING_ID.test(listingId) || listings.has(listingId)) continue;
      let listing: Listing;
      try {
        listing = await readListing(this.ctx, BigInt(listingId));
      } catch (error) {
        // The chain read failed, not the gateway: keep what was proven before for this listing.
        const known = previous?.get(listingId);
        if (known) listings.set(listingId, known);
        this.log.warn({ gateway, listingId, err: (error as Error).message }, "listing read failed");
        continue;
      }
      if (listing.provider.toLowerCase() !== provider.toLowerCase()) {
        this.log.warn({ gateway, listingId, provider: listing.provider, proven: provider }, "gateway claims a listing of another provider; ignored");
        continue;
      }
      const model = typeof info.model === "string" ? info.model : "";
      listings.set(listingId, { listingId: BigInt(listingId), gateway, listing, model, since: previous?.get(listingId)?.since ?? Math.floor(Date.now() / 1000) });
    }
    this.states.set(gateway, { provider, listings });
  }

  /** Sends a fresh nonce and returns the key that signed the gateway's proof for this chain, deployment and URL. */
  private async challenge(gateway: string): Promise<Address> {
    const nonce = `0x${randomBytes(32).toString("hex")}` as Hex;
    let res: Response;
    let proof: { signature?: unknown; gateway?: unknown };
    try {
      res = await fetch(`${gateway}${IDENTITY_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ nonce }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (res.status >= 500) throw new Error(`${IDENTITY_PATH} answered ${res.status}`);
      if (res.ok) proof = (await res.json()) as typeof proof;
      else proof = {};
    } catch (error) {
      // Gone between /v1/info and the challenge (killed, restarting, overloaded): unreachable, not an impostor.
      throw new GatewayUnreachable((error as Error).message);
    }
    if (!res.ok) throw new Error(`${IDENTITY_PATH} answered ${res.status}`);
    if (typeof proof?.signature !== "string") throw new Error("the identity proof has no signature");
    // The text is rebuilt from this orchestrator's own values: the gateway's copy of them is never trusted.
    const binding = { chainId: this.ctx.chain.id, marketplace: this.ctx.marketplace.address, gateway: normalizeGatewayUrl(gateway), nonce };
    // Only for the message: a signature over another URL recovers to a key that owns nothing here anyway.
    if (typeof proof.gateway === "string" && proof.gateway !== binding.gateway) {
      throw new Error(`the proof is for gateway ${proof.gateway}, not ${binding.gateway} (a relayed challenge, or GATEWAY_PUBLIC_URL differs)`);
    }
    try {
      return recoverIdentity(binding, proof.signature as Hex);
    } catch (error) {
      throw new Error(`the identity signature is invalid (${(error as Error).message})`);
    }
  }
}

/** The gateway could not be asked (network error, timeout, 5xx): what it proved before still stands. */
class GatewayUnreachable extends Error {}
