/**
 * Which provider gateways serve which listings. The orchestrator is given gateway URLs (PROVIDER_GATEWAYS); each
 * gateway says which listings it serves (GET /v1/info), and the chain decides whether to believe it: a listing is
 * only routed to a gateway whose provider address is the listing's provider on chain, and only while it is active.
 * A gateway that cannot be reached at a refresh keeps its last known listings: routing then finds it down on the
 * request and moves on to the next candidate, which is what ranking is for.
 */
import type { Address } from "viem";
import { readListing, type ChainReader, type Listing } from "../shared/chain";
import type { Logger } from "../shared/logger";

export interface ServedListing {
  listingId: bigint;
  gateway: string;
  listing: Listing;
}

interface GatewayInfo {
  provider: Address;
  chainId: number;
  model: string;
  listings: { listingId: string }[];
}

export class ProviderRegistry {
  private readonly served = new Map<string, ServedListing>();
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

  async refresh(): Promise<void> {
    await Promise.all(this.gateways.map((gateway) => this.refreshGateway(gateway)));
  }

  private async refreshGateway(gateway: string): Promise<void> {
    let info: GatewayInfo;
    try {
      const res = await fetch(`${gateway}/v1/info`, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) throw new Error(`status ${res.status}`);
      info = (await res.json()) as GatewayInfo;
    } catch (error) {
      this.log.warn({ gateway, err: (error as Error).message }, "gateway unreachable; keeping its last known listings");
      return;
    }
    if (info.chainId !== this.ctx.chain.id) {
      this.log.warn({ gateway, chainId: info.chainId }, "gateway is on another chain; ignored");
      return;
    }
    for (const { listingId } of info.listings ?? []) {
      const id = BigInt(listingId);
      const listing = await readListing(this.ctx, id);
      if (listing.provider.toLowerCase() !== String(info.provider).toLowerCase()) {
        this.log.warn({ gateway, listingId, provider: listing.provider }, "gateway claims a listing of another provider; ignored");
        this.served.delete(listingId);
        continue;
      }
      this.served.set(listingId, { listingId: id, gateway, listing });
    }
  }
}
