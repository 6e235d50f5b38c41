/** GraphQL documents and result types shared by the market, listing and chat pages (api/schema.graphql). */

export interface ListingRow {
  id: string;
  name: string | null;
  vendor: string | null;
  description: string | null;
  categoryName: string | null;
  category: number;
  unit: number;
  pricePerUnit: string;
  provider: string;
  bond: string;
  status: number;
  averageRating: number | null;
  ratingCount: number;
  escrowCount: number;
  volume: string;
  metadataError: string | null;
}

export const LISTING_FIELDS = `id name vendor description categoryName category unit pricePerUnit provider bond status averageRating ratingCount escrowCount volume metadataError`;

export const MARKET_QUERY = `query Market { listings(limit: 500, orderBy: id, orderDirection: asc) { items { ${LISTING_FIELDS} } } }`;

export interface ChargeRow {
  id: string;
  escrowId: string;
  units: string;
  cumulativeUnits: string;
  amount: string;
  attested: boolean;
  status: string;
  timestamp: string;
  txHash: string;
}

export const CHARGE_FIELDS = `id escrowId units cumulativeUnits amount attested status timestamp txHash`;

export interface EscrowRow {
  id: string;
  listingId: string;
  renter: string;
  provider: string;
  deposit: string;
  spendCap: string;
  pricePerUnit: string;
  expiresAt: string;
  charged: string;
  remaining: string;
  units: string;
  status: string;
  openedAt: string;
  closedAt: string | null;
  refund: string | null;
}

export const ESCROW_FIELDS = `id listingId renter provider deposit spendCap pricePerUnit expiresAt charged remaining units status openedAt closedAt refund`;

/** One model of the orchestrator's GET /v1/models (workers/orchestrator/routing.ts modelList). */
export interface OfferedModel {
  id: string;
  name?: string;
  listingId: string;
  provider: string;
  category: string;
  unit: string;
  pricePerUnit: string;
  successRate?: number;
  latencyMs?: number | null;
}

export async function fetchOfferedModels(orchestratorUrl: string, signal?: AbortSignal): Promise<OfferedModel[]> {
  const res = await fetch(`${orchestratorUrl.replace(/\/$/, "")}/models`, { signal, headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`the orchestrator's model list answered ${res.status}`);
  const json = (await res.json()) as { data?: OfferedModel[] };
  return (json.data ?? []).filter((m) => m.listingId !== undefined);
}
