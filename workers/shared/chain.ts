/**
 * viem clients and typed reads of the PRSM contracts, shared by the workers. The chain is identified by asking the
 * RPC, so one configuration works against a local node, Amoy or Polygon.
 */
import {
  parseAbiItem,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Abi,
  type AbiEvent,
  type Address,
  type Chain,
  type Hex,
  type Log,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type TypedDataDomain,
  type WalletClient,
} from "viem";
import { hardhat, polygon, polygonAmoy } from "viem/chains";
import type { LocalAccount } from "viem/accounts";
import { ConfigError } from "../../config/env";
import { decodeApplied } from "./batch";
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

/** Cumulative units the chain now accounts for an escrow: from `UsageCharged`, or an applied entry of a batch. */
export interface ChargedEntry {
  escrowId: bigint;
  cumulativeUnits: bigint;
  /** Set for a batch entry (`UsageBatchCharged`): the batch and the entry's amount. */
  batchId?: bigint;
  amount?: bigint;
  blockNumber: bigint;
}

export interface SettledScan {
  charged: ChargedEntry[];
  closed: bigint[];
  /**
   * The last block scanned completely: the caller's next scan starts at `scannedTo + 1`. Below `toBlock` when the
   * scan stopped early (a range failed after its retries, or `maxRanges` was reached).
   */
  scannedTo: bigint;
  /** Why the scan stopped before `toBlock`, when a range could not be read. */
  error?: Error;
}

export interface ScanOptions {
  /** Blocks per getLogs query (the first try of each range; a failing range is retried at half the size). Default 2,000. */
  maxRange?: bigint;
  /** Ranges per call: a huge backlog is eaten over several calls. Default 50. */
  maxRanges?: number;
  /** Retries of one range before giving up on this call. Default 3. */
  retries?: number;
  /** First backoff between retries, doubled each time up to maxBackoffMs. Defaults 250 and 4,000. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

// Explicit event items: UsageBatchCharged may not be in a deployment's ABI yet, and the scan must not depend on it.
const USAGE_CHARGED = parseAbiItem(
  "event UsageCharged(uint256 indexed escrowId, uint256 indexed chargeId, uint64 sequence, uint256 cumulativeUnits, uint256 units, uint256 amount, bool attested, bytes32 resultDigest, uint48 disputableUntil)",
);
const ESCROW_CLOSED = parseAbiItem("event EscrowClosed(uint256 indexed escrowId, address indexed closedBy, uint256 refund, bool byAgreement)");
const USAGE_BATCH_CHARGED = parseAbiItem("event UsageBatchCharged(uint256 indexed batchId, uint256 disputableUntil, bytes32[] applied)");

const scanEvents = new WeakMap<Abi, AbiEvent[]>();

/** The deployment's own UsageCharged and EscrowClosed when it has them (as before), the explicit batch event always. */
function settlementEvents(abi: Abi): AbiEvent[] {
  let events = scanEvents.get(abi);
  if (!events) {
    const own = (name: string) => abi.find((item): item is AbiEvent => item.type === "event" && item.name === name);
    events = [own("UsageCharged") ?? USAGE_CHARGED, own("EscrowClosed") ?? ESCROW_CLOSED, USAGE_BATCH_CHARGED];
    scanEvents.set(abi, events);
  }
  return events;
}

/**
 * Usage charged (cumulative units now accounted per escrow, single charges and batch entries) and escrows closed
 * between two blocks, inclusive: one getLogs per range of at most `maxRange` blocks instead of a read per pending
 * report. Each range is retried with backoff (and at half the size, for RPCs that cap a query's blocks or results);
 * a range that still fails ends the call with what the ranges before it found and `scannedTo` set to their end, so
 * the caller's cursor moves range by range and an outage never pins it, nor re-reads what was read.
 *
 * Throws only when not even the first range could be read (the caller's cursor stays); otherwise returns.
 */
export async function readSettledSince(ctx: ChainReader, fromBlock: bigint, toBlock: bigint, options: ScanOptions = {}): Promise<SettledScan> {
  const maxRange = options.maxRange ?? 2_000n;
  const maxRanges = options.maxRanges ?? 50;
  const retries = options.retries ?? 3;
  const backoffMs = options.backoffMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 4_000;
  if (maxRange < 1n) throw new RangeError("maxRange must be at least one block");
  const events = settlementEvents(ctx.marketplace.abi);
  const result: SettledScan = { charged: [], closed: [], scannedTo: fromBlock - 1n };
  for (let ranges = 0; ranges < maxRanges && result.scannedTo < toBlock; ranges++) {
    const start = result.scannedTo + 1n;
    let size = maxRange;
    let logs: Log[] | undefined;
    let end = start;
    for (let attempt = 0; logs === undefined; attempt++) {
      end = start + size - 1n < toBlock ? start + size - 1n : toBlock;
      try {
        logs = (await ctx.publicClient.getLogs({ address: ctx.marketplace.address, events, fromBlock: start, toBlock: end, strict: true })) as Log[];
      } catch (error) {
        if (attempt >= retries) {
          if (ranges === 0) throw error;
          result.error = error as Error;
          return result;
        }
        await sleep(Math.min(maxBackoffMs, backoffMs * 2 ** attempt));
        if (size > 1n) size = (size + 1n) / 2n;
      }
    }
    for (const log of logs as unknown as { eventName: string; args: Record<string, unknown>; blockNumber: bigint }[]) {
      if (log.eventName === "UsageCharged") {
        result.charged.push({ escrowId: log.args.escrowId as bigint, cumulativeUnits: log.args.cumulativeUnits as bigint, blockNumber: log.blockNumber });
      } else if (log.eventName === "UsageBatchCharged") {
        for (const word of log.args.applied as Hex[]) {
          result.charged.push({ ...decodeApplied(word), batchId: log.args.batchId as bigint, blockNumber: log.blockNumber });
        }
      } else if (log.eventName === "EscrowClosed") {
        result.closed.push(log.args.escrowId as bigint);
      }
    }
    result.scannedTo = end;
  }
  return result;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
