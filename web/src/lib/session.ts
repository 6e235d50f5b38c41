/**
 * Renting from the browser with one wallet signature:
 *   openWithSessionKey(): a session key is generated here (viem generatePrivateKey), the wallet signs ONE EIP-2612
 *   permit for the deposit, and ONE transaction `openEscrowWithSessionKey` opens the escrow and authorizes the key.
 *   The escrow id comes from the receipt's EscrowOpened event; the key is kept in localStorage under it.
 *   createRenter(): the repository's RenterClient (workers/renter/client.ts) with the session key as its account, the
 *   committee's and marketplace's EIP-712 domains read from the contracts, the orchestrator through the same-origin
 *   proxy, and its ledger (newest acknowledgement, unexplained usage) persisted in localStorage, so each chat message
 *   is signed by the session key, never by the wallet.
 *
 * The key is scoped to its escrow: on chain it can only sign receipts for that escrow (at most its remaining spend
 * cap, paid to that listing's provider); the renter can revoke it (revokeSessionKey) at any time.
 */
import { PERMIT_TYPES } from "../../../workers/shared/permit";
import { parseEventLogs, parseSignature, type Address, type Hex, type PublicClient, type TypedDataDomain } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { Config } from "wagmi";
import { getConnection, getPublicClient, signTypedData, simulateContract, waitForTransactionReceipt, writeContract } from "wagmi/actions";
import { RenterClient } from "../../../workers/renter/client";
import { receiptFromJson, receiptToJson, type UsageReceiptJson } from "../../../workers/shared/receipt";
import { committeeAbi, marketplaceAbi, tokenAbi } from "./abi";
import { currentConfig, type AppConfig } from "./config";
import { MESSAGES } from "./errors";


/** Units one chat message may add at most (what a cheating provider could take per message, at worst). */
export const QUERY_BUDGET_UNITS = 4_096n;
/** Authorization deadlines: the gateway and nodes accept at most 300 s ahead; keep a margin for clock skew. */
const AUTH_DEADLINE_SECONDS = 240;

// ---- local storage -------------------------------------------------------------------------------------------------

export interface StoredSession {
  escrowId: string;
  listingId: string;
  privateKey: Hex;
  address: Address;
  renter: Address;
  createdAt: number;
  revoked?: boolean;
  receipt?: UsageReceiptJson;
  unexplained?: string;
}

const prefix = (c: AppConfig) => `prsm:${c.chainId}:${c.contracts.marketplace.toLowerCase()}`;
const sessionKeyName = (c: AppConfig, escrowId: string) => `${prefix(c)}:session:${escrowId}`;
const pendingKeyName = (c: AppConfig) => `${prefix(c)}:pending-session`;

export function loadSession(escrowId: string): StoredSession | undefined {
  const raw = localStorage.getItem(sessionKeyName(currentConfig(), escrowId));
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as StoredSession;
  } catch {
    return undefined;
  }
}

export function saveSession(session: StoredSession): void {
  localStorage.setItem(sessionKeyName(currentConfig(), session.escrowId), JSON.stringify(session));
}

export function updateSession(escrowId: string, change: (s: StoredSession) => void): void {
  const s = loadSession(escrowId);
  if (!s) return;
  change(s);
  saveSession(s);
}

/** Every session this browser holds for the current deployment (newest first). */
export function listSessions(): StoredSession[] {
  const p = `${prefix(currentConfig())}:session:`;
  const out: StoredSession[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (!k?.startsWith(p)) continue;
    try {
      out.push(JSON.parse(localStorage.getItem(k)!) as StoredSession);
    } catch {
      // skip unreadable entries
    }
  }
  return out.sort((a, b) => b.createdAt - a.createdAt);
}

export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
  units?: string;
  cost?: string;
  error?: string;
}

export function loadMessages(escrowId: string): ChatMessage[] {
  try {
    return JSON.parse(localStorage.getItem(`${prefix(currentConfig())}:messages:${escrowId}`) ?? "[]") as ChatMessage[];
  } catch {
    return [];
  }
}

export function saveMessages(escrowId: string, messages: ChatMessage[]): void {
  localStorage.setItem(`${prefix(currentConfig())}:messages:${escrowId}`, JSON.stringify(messages.slice(-200)));
}

// ---- chain reads ---------------------------------------------------------------------------------------------------

export function publicClient(wagmi: Config): PublicClient {
  const client = getPublicClient(wagmi, { chainId: currentConfig().chainId });
  if (!client) throw new Error("no RPC client for the configured chain");
  return client as PublicClient;
}

export async function chainNow(client: PublicClient): Promise<bigint> {
  return (await client.getBlock({ blockTag: "latest" })).timestamp;
}

export async function readDomain(client: PublicClient, address: Address, abi: typeof marketplaceAbi | typeof committeeAbi | typeof tokenAbi): Promise<TypedDataDomain> {
  const [, name, version, chainId, verifyingContract] = (await client.readContract({ address, abi: abi as typeof tokenAbi, functionName: "eip712Domain" })) as readonly [Hex, string, string, bigint, Address, Hex, readonly bigint[]];
  return { name, version, chainId: Number(chainId), verifyingContract };
}

export interface ChainEscrow {
  renter: Address;
  listingId: bigint;
  expiresAt: bigint;
  status: number;
  rated: boolean;
  deposit: bigint;
  charged: bigint;
  units: bigint;
  pricePerUnit: bigint;
  spendCap: bigint;
}

export async function readEscrow(client: PublicClient, escrowId: bigint): Promise<ChainEscrow> {
  const e = (await client.readContract({ address: currentConfig().contracts.marketplace, abi: marketplaceAbi, functionName: "getEscrow", args: [escrowId] })) as unknown as Record<string, unknown>;
  return {
    renter: e.renter as Address,
    listingId: BigInt(e.listingId as number),
    expiresAt: BigInt(e.expiresAt as number),
    status: Number(e.status),
    rated: Boolean(e.rated),
    deposit: BigInt(e.deposit as bigint),
    charged: BigInt(e.charged as bigint),
    units: BigInt(e.units as bigint),
    pricePerUnit: BigInt(e.pricePerUnit as bigint),
    spendCap: BigInt(e.spendCap as bigint),
  };
}

export async function readListing(client: PublicClient, listingId: bigint): Promise<{ provider: Address; unit: number; pricePerUnit: bigint; status: number }> {
  const l = (await client.readContract({ address: currentConfig().contracts.marketplace, abi: marketplaceAbi, functionName: "getListing", args: [listingId] })) as unknown as Record<string, unknown>;
  return { provider: l.provider as Address, unit: Number(l.unit), pricePerUnit: BigInt(l.pricePerUnit as bigint), status: Number(l.status) };
}

// ---- opening an escrow ---------------------------------------------------------------------------------------------

export interface RentTerms {
  listingId: bigint;
  deposit: bigint;
  spendCap: bigint;
  durationSeconds: number;
  maxPricePerUnit: bigint;
}

export type RentStep = "key" | "permit" | "transaction" | "mining";

/** Opens an escrow with a fresh session key: one permit signature, one transaction. Returns the escrow id. */
export async function openWithSessionKey(wagmi: Config, terms: RentTerms, onStep?: (step: RentStep) => void): Promise<bigint> {
  const config = currentConfig();
  const connection = getConnection(wagmi);
  const owner = connection.address;
  if (!owner) throw new Error(MESSAGES.notConnected);
  if (connection.chainId !== config.chainId) throw new Error(MESSAGES.wrongChain);
  const client = publicClient(wagmi);
  const { token, marketplace } = config.contracts;

  onStep?.("key");
  const privateKey = generatePrivateKey();
  const sessionAccount = privateKeyToAccount(privateKey);
  // Kept before anything is signed: a tab closed mid-way still has the key of an escrow that did open.
  localStorage.setItem(pendingKeyName(config), JSON.stringify({ privateKey, address: sessionAccount.address, listingId: terms.listingId.toString(), renter: owner, createdAt: Date.now() }));

  const [now, nonce, domain] = await Promise.all([
    chainNow(client),
    client.readContract({ address: token, abi: tokenAbi, functionName: "nonces", args: [owner] }) as Promise<bigint>,
    readDomain(client, token, tokenAbi),
  ]);
  const permitDeadline = now + 3_600n;
  const expiresAt = now + BigInt(terms.durationSeconds);

  onStep?.("permit");
  const signature = await signTypedData(wagmi, {
    account: owner,
    domain,
    types: PERMIT_TYPES,
    primaryType: "Permit",
    message: { owner, spender: marketplace, value: terms.deposit, nonce, deadline: permitDeadline },
  });
  const { v, r, s } = parseSignature(signature);

  onStep?.("transaction");
  const { request } = await simulateContract(wagmi, {
    account: owner,
    chainId: config.chainId,
    address: marketplace,
    abi: marketplaceAbi,
    functionName: "openEscrowWithSessionKey",
    args: [terms.listingId, terms.deposit, terms.spendCap, Number(expiresAt), terms.maxPricePerUnit, sessionAccount.address, permitDeadline, Number(v ?? 27n), r, s],
  });
  const hash = await writeContract(wagmi, request as never);
  onStep?.("mining");
  const receipt = await waitForTransactionReceipt(wagmi, { hash, chainId: config.chainId });
  if (receipt.status !== "success") throw new Error(`The transaction ${hash} was mined but reverted.`);
  const opened = parseEventLogs({ abi: marketplaceAbi, logs: receipt.logs, eventName: "EscrowOpened" });
  const escrowId = opened[0]?.args.escrowId;
  if (escrowId === undefined) throw new Error("The transaction emitted no EscrowOpened event.");
  saveSession({ escrowId: escrowId.toString(), listingId: terms.listingId.toString(), privateKey, address: sessionAccount.address, renter: owner, createdAt: Date.now() });
  localStorage.removeItem(pendingKeyName(config));
  return escrowId;
}

/** A new session key for an escrow this browser has no key for (one transaction: authorizeSessionKey). */
export async function authorizeNewKey(wagmi: Config, escrowId: bigint, listingId: bigint): Promise<void> {
  const config = currentConfig();
  const owner = getConnection(wagmi).address;
  if (!owner) throw new Error(MESSAGES.notConnected);
  const privateKey = generatePrivateKey();
  const address = privateKeyToAccount(privateKey).address;
  const { request } = await simulateContract(wagmi, {
    account: owner,
    chainId: config.chainId,
    address: config.contracts.marketplace,
    abi: marketplaceAbi,
    functionName: "authorizeSessionKey",
    args: [escrowId, address],
  });
  const hash = await writeContract(wagmi, request as never);
  const receipt = await waitForTransactionReceipt(wagmi, { hash, chainId: config.chainId });
  if (receipt.status !== "success") throw new Error(`The transaction ${hash} was mined but reverted.`);
  saveSession({ escrowId: escrowId.toString(), listingId: listingId.toString(), privateKey, address, renter: owner, createdAt: Date.now() });
}

// ---- the renter client ---------------------------------------------------------------------------------------------

/** The orchestrator's base for the client, whose paths start with /v1 (config.orchestratorUrl is ".../v1"). */
function orchestratorBase(config: AppConfig): string {
  const url = new URL(config.orchestratorUrl || "/v1", location.href).toString().replace(/\/$/, "");
  return url.replace(/\/v1$/, "");
}

const domains = new Map<string, Promise<{ committee: TypedDataDomain; marketplace: TypedDataDomain }>>();

export async function createRenter(wagmi: Config, session: StoredSession): Promise<RenterClient> {
  const config = currentConfig();
  const client = publicClient(wagmi);
  const key = `${config.chainId}:${config.contracts.marketplace}`;
  let d = domains.get(key);
  if (!d) {
    d = Promise.all([readDomain(client, config.contracts.committee, committeeAbi), readDomain(client, config.contracts.marketplace, marketplaceAbi)]).then(([committee, marketplace]) => ({ committee, marketplace }));
    d.catch(() => domains.delete(key));
    domains.set(key, d);
  }
  const { committee, marketplace } = await d;
  const listings = new Map<string, Promise<{ provider: Address; unit: number }>>();
  const listingOf = async (escrowId: bigint) => {
    const escrow = await readEscrow(client, escrowId);
    const k = escrow.listingId.toString();
    if (!listings.has(k)) listings.set(k, readListing(client, escrow.listingId));
    return listings.get(k)!;
  };
  const renter = new RenterClient(privateKeyToAccount(session.privateKey), committee, orchestratorBase(config), {
    budgetUnits: QUERY_BUDGET_UNITS,
    deadlineSeconds: AUTH_DEADLINE_SECONDS,
    // The account is the escrow's session key: deadlines stay within what gateways accept from one.
    sessionKey: true,
    marketplaceDomain: marketplace,
    chainNow: () => chainNow(client),
    // Read from the chain, never believed from the answer: the unit and the provider of each escrow's listing.
    unitOf: async (id) => (await listingOf(id)).unit,
    providerOf: async (id) => (await listingOf(id)).provider,
    unexplainedAllowance: QUERY_BUDGET_UNITS,
    onUnexplained: (id, used) => updateSession(id.toString(), (s) => (s.unexplained = used.toString())),
  });
  if (session.receipt) renter.restoreReceipt(receiptFromJson(session.receipt));
  if (session.unexplained) renter.restoreUnexplained(BigInt(session.escrowId), BigInt(session.unexplained));
  return renter;
}

/** Saves the client's newest acknowledgement of an escrow (call after each checked answer). */
export function persistReceipt(renter: RenterClient, escrowId: bigint): void {
  const receipt = renter.lastReceipt(escrowId);
  if (receipt) updateSession(escrowId.toString(), (s) => (s.receipt = receiptToJson(receipt)));
}

/**
 * Before a query: usage the chain accounted beyond this browser's acknowledgements is accepted at most once per escrow
 * up to one budget (as the renter proxy does); false when the escrow should not be offered any more.
 */
export async function reconcileChainUsage(wagmi: Config, renter: RenterClient, escrowId: bigint): Promise<boolean> {
  const escrow = await readEscrow(publicClient(wagmi), escrowId);
  const gap = renter.acceptChainUsage(escrowId, escrow.units);
  if (gap === undefined) return false;
  if (gap > 0n) {
    await renter.acknowledge(escrowId, escrow.units);
    persistReceipt(renter, escrowId);
  }
  return true;
}

export async function sessionKeyState(wagmi: Config, escrowId: bigint, key: Address): Promise<{ authorized: boolean; revokedAt: number }> {
  const [authorized, revokedAt] = (await publicClient(wagmi).readContract({
    address: currentConfig().contracts.marketplace,
    abi: marketplaceAbi,
    functionName: "sessionKey",
    args: [escrowId, key],
  })) as readonly [boolean, number];
  return { authorized, revokedAt: Number(revokedAt) };
}
