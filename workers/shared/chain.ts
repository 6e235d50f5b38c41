/**
 * viem clients and typed reads of the PRSM contracts, shared by the workers. The chain is identified by asking the
 * RPC, so one configuration works against a local node, Amoy or Polygon.
 */
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type TypedDataDomain,
  type WalletClient,
} from "viem";
import { hardhat, polygon, polygonAmoy } from "viem/chains";
import type { LocalAccount } from "viem/accounts";
import { ConfigError } from "../../config/env";
import { loadDeployment, type DeployedContract } from "./deployment";

export interface Escrow {
  renter: Address;
  listingId: bigint;
  expiresAt: bigint;
  status: number;
  deposit: bigint;
  /** Amount counting against the spend cap (settled, pending and disputed charges). */
  charged: bigint;
  /** Cumulative units accounted on chain: a report or receipt charges only beyond this. */
  units: bigint;
  pricePerUnit: bigint;
  spendCap: bigint;
  /** The version of the rules (fee, grace, dispute window) the escrow opened under. */
  termsId: number;
}

/** The rules an escrow is charged under (IModelMarketplace.Terms); versions never change once published. */
export interface Terms {
  protocolFeeBps: number;
  settlementGrace: bigint;
  disputeWindow: bigint;
  disputeResolutionPeriod: bigint;
  disputeSlashBps: number;
  disputeBond: bigint;
}

export interface Listing {
  provider: Address;
  pricePerUnit: bigint;
  /** ListingStatus: 0 none, 1 active, 2 paused, 3 delisted (see IModelMarketplace) */
  status: number;
  category: number;
  /** BillingUnit: 0 token, 1 request, 2 second */
  unit: number;
  metadataURI: string;
}

export interface CommitteeEpoch {
  epoch: bigint;
  members: Address[];
  quorum: number;
}

/** Read access to the PRSM contracts: what the orchestrator and every signer check against. */
export interface ChainReader {
  publicClient: PublicClient;
  chain: Chain;
  marketplace: DeployedContract;
  committee: DeployedContract;
  /** EIP-712 domain of the committee: attestations, provider reports and renter authorizations are signed in it. */
  domain: TypedDataDomain;
  /** EIP-712 domain of the marketplace: renter receipts (acknowledgements of usage received) are signed in it. */
  marketplaceDomain: TypedDataDomain;
}

/** A reader that also sends transactions from one key (consensus nodes, provider gateways). */
export interface ChainContext extends ChainReader {
  walletClient: WalletClient;
  account: LocalAccount;
}

const KNOWN_CHAINS: Record<number, Chain> = { 31337: hardhat, 137: polygon, 80002: polygonAmoy };

export async function connectChain(options: { rpcUrl: string; network: string; account: LocalAccount }): Promise<ChainContext> {
  const reader = await connectReader(options);
  const walletClient = createWalletClient({ chain: reader.chain, transport: reader.transport, account: options.account });
  return { ...reader, walletClient, account: options.account };
}

export async function connectReader(options: { rpcUrl: string; network: string }): Promise<ChainReader & { transport: Transport }> {
  const probe = createPublicClient({ transport: http(options.rpcUrl, { retryCount: 2, timeout: 10_000 }) });
  let chainId: number;
  try {
    chainId = await probe.getChainId();
  } catch (error) {
    // Name the setting: at start, an unreachable RPC is a configuration problem far more often than an outage.
    throw new ConfigError("RPC_URL", `no JSON-RPC answer from ${options.rpcUrl} (${(error as Error).message.split("\n")[0]})`);
  }
  const chain =
    KNOWN_CHAINS[chainId] ??
    defineChain({ id: chainId, name: `chain-${chainId}`, nativeCurrency: { name: "POL", symbol: "POL", decimals: 18 }, rpcUrls: { default: { http: [options.rpcUrl] } } });
  const transport = http(options.rpcUrl, { retryCount: 2, timeout: 15_000 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 100 }) as PublicClient;
  const marketplace = loadDeployment(options.network, "ModelMarketplace", "MARKETPLACE_ADDRESS");
  const committee = loadDeployment(options.network, "FederationCommittee", "COMMITTEE_ADDRESS");
  const readDomain = async (contract: DeployedContract): Promise<TypedDataDomain> => {
    const [, name, version, domainChainId, verifyingContract] = (await publicClient.readContract({
      address: contract.address,
      abi: contract.abi,
      functionName: "eip712Domain",
    })) as [Hex, string, string, bigint, Address];
    return { name, version, chainId: Number(domainChainId), verifyingContract };
  };
  const [domain, marketplaceDomain] = await Promise.all([readDomain(committee), readDomain(marketplace)]);
  return { publicClient, transport, chain, marketplace, committee, domain, marketplaceDomain };
}

export async function readEscrow(ctx: ChainReader, escrowId: bigint): Promise<Escrow> {
  const e = (await ctx.publicClient.readContract({
    address: ctx.marketplace.address,
    abi: ctx.marketplace.abi,
    functionName: "getEscrow",
    args: [escrowId],
  })) as Record<string, unknown>;
  return {
    renter: e.renter as Address,
    listingId: BigInt(e.listingId as number),
    expiresAt: BigInt(e.expiresAt as number),
    status: Number(e.status),
    deposit: e.deposit as bigint,
    charged: e.charged as bigint,
    units: BigInt(e.units as bigint),
    pricePerUnit: e.pricePerUnit as bigint,
    spendCap: e.spendCap as bigint,
    termsId: Number(e.termsId),
  };
}

export async function readTerms(ctx: ChainReader, termsId: number): Promise<Terms> {
  const t = (await ctx.publicClient.readContract({
    address: ctx.marketplace.address,
    abi: ctx.marketplace.abi,
    functionName: "getTerms",
    args: [termsId],
  })) as Record<string, unknown>;
  return {
    protocolFeeBps: Number(t.protocolFeeBps),
    settlementGrace: BigInt(t.settlementGrace as number),
    disputeWindow: BigInt(t.disputeWindow as number),
    disputeResolutionPeriod: BigInt(t.disputeResolutionPeriod as number),
    disputeSlashBps: Number(t.disputeSlashBps),
    disputeBond: t.disputeBond as bigint,
  };
}

export async function readListing(ctx: ChainReader, listingId: bigint): Promise<Listing> {
  const l = (await ctx.publicClient.readContract({
    address: ctx.marketplace.address,
    abi: ctx.marketplace.abi,
    functionName: "getListing",
    args: [listingId],
  })) as Record<string, unknown>;
  return {
    provider: l.provider as Address,
    pricePerUnit: l.pricePerUnit as bigint,
    status: Number(l.status),
    category: Number(l.category),
    unit: Number(l.unit),
    metadataURI: l.metadataURI as string,
  };
}

export async function readCommitteeEpoch(ctx: ChainReader): Promise<CommitteeEpoch> {
  const read = (functionName: string, args: unknown[] = []) =>
    ctx.publicClient.readContract({ address: ctx.committee.address, abi: ctx.committee.abi, functionName, args });
  const [epoch, members] = (await Promise.all([read("currentEpoch"), read("currentMembers")])) as [bigint, Address[]];
  const quorum = Number((await read("quorumFor", [BigInt(members.length)])) as bigint);
  return { epoch, members, quorum };
}

export async function latestTimestamp(ctx: ChainReader): Promise<bigint> {
  return (await ctx.publicClient.getBlock({ blockTag: "latest" })).timestamp;
}

/**
 * The receipt of a sent transaction. Asked for at once before polling: on an automining chain (local, tests) it is
 * already there, and polling would add up to a polling interval to every settlement.
 */
export async function receiptOf(ctx: ChainContext, hash: Hex): Promise<TransactionReceipt> {
  try {
    return await ctx.publicClient.getTransactionReceipt({ hash });
  } catch {
    return ctx.publicClient.waitForTransactionReceipt({ hash, timeout: 120_000 });
  }
}

/**
 * Usage charged (cumulative units now accounted per escrow) and escrows closed between two blocks: one log query
 * instead of a read per pending report.
 */
export async function readSettledSince(
  ctx: ChainReader,
  fromBlock: bigint,
  toBlock: bigint,
): Promise<{ charged: { escrowId: bigint; cumulativeUnits: bigint }[]; closed: bigint[] }> {
  const logs = await ctx.publicClient.getContractEvents({
    address: ctx.marketplace.address,
    abi: ctx.marketplace.abi,
    eventName: undefined,
    fromBlock,
    toBlock,
  });
  const charged: { escrowId: bigint; cumulativeUnits: bigint }[] = [];
  const closed: bigint[] = [];
  for (const log of logs as unknown as { eventName: string; args: Record<string, unknown> }[]) {
    if (log.eventName === "UsageCharged") charged.push({ escrowId: log.args.escrowId as bigint, cumulativeUnits: log.args.cumulativeUnits as bigint });
    if (log.eventName === "EscrowClosed") closed.push(log.args.escrowId as bigint);
  }
  return { charged, closed };
}
