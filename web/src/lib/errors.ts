/**
 * `explain(error)`: one sentence a person understands for anything the app can fail with: wallet refusals, wrong
 * network, the contracts' custom errors (decoded against the ABIs), the orchestrator's and gateway's refusals
 * (402 exhausted escrow, 429), the API being down. Never a stack trace: an unknown error gives its first line.
 */
import { BaseError, ContractFunctionRevertedError, decodeErrorResult, formatUnits, type Hex } from "viem";
import { allAbis } from "./abi";
import { ApiError } from "./graphql";

/** A refusal from the orchestrator or a provider gateway (`{ error: { code, message } }` with an HTTP status). */
export class ServiceError extends Error {
  override name = "ServiceError";
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

export const MESSAGES = {
  rejected: "You declined the request in your wallet; nothing was signed or sent.",
  wrongChain: "Your wallet is on another network than PRSM's. Switch networks and try again.",
  apiDown: "The PRSM API is not reachable right now. Check your connection; the page retries by itself.",
  rateLimited: "Too many requests in a short time. Wait a few seconds and try again.",
  exhausted: "This escrow's spend cap is used up (what is left cannot pay for this message): open a new escrow, or close this one to get the rest of the deposit back.",
  notConnected: "Connect a wallet first.",
} as const;

const ftns = (v: unknown) => {
  try {
    return `${Number(formatUnits(BigInt(v as bigint), 18)).toLocaleString(undefined, { maximumFractionDigits: 6 })} FTNS`;
  } catch {
    return String(v);
  }
};
const time = (v: unknown) => {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? new Date(n * 1000).toLocaleString() : String(v);
};
const LISTING_STATUS = ["not listed", "active", "paused", "delisted"];

/** Sentences for the contracts' custom errors, by name (args as decoded). */
const CONTRACT_ERRORS: Record<string, (a: readonly unknown[]) => string> = {
  ListingNotRentable: (a) => `Listing ${a[0]} cannot be rented now (it is ${LISTING_STATUS[Number(a[1])] ?? `in state ${a[1]}`}).`,
  ListingNotFound: (a) => `Listing ${a[0]} does not exist.`,
  ListingIsDelisted: (a) => `Listing ${a[0]} has been delisted.`,
  PriceAboveMaximum: (a) => `The listing's price (${ftns(a[1])} a unit) is above the maximum you accepted (${ftns(a[2])}). Raise your maximum price or choose another listing.`,
  DepositTooLow: (a) => `The deposit is below the marketplace's minimum of ${ftns(a[1])}.`,
  InvalidDeposit: (a) => `The spend cap must be more than zero and at most the deposit (${ftns(a[1])}).`,
  InvalidExpiry: (a) => `The expiry is not allowed: it must be in the future and within the marketplace's longest escrow duration (until ${time(a[1])}).`,
  EscrowNotClosable: (a) => `Escrow ${a[0]} cannot be closed yet: it can be closed after ${time(a[1])} (its expiry plus the settlement grace).`,
  EscrowNotFound: (a) => `Escrow ${a[0]} does not exist.`,
  EscrowNotOpen: (a) => `Escrow ${a[0]} is already closed.`,
  EscrowNotClosed: (a) => `Escrow ${a[0]} must be closed before it can be rated.`,
  NotEscrowRenter: (a) => `Only the renter who opened escrow ${a[0]} can do this; the connected account is ${a[1]}.`,
  NotEscrowParty: (a) => `Only the renter or the provider of escrow ${a[0]} can do this.`,
  NotListingProvider: (a) => `Only the provider of listing ${a[0]} can do this.`,
  AlreadyRated: (a) => `Escrow ${a[0]} has already been rated (one rating per escrow).`,
  InvalidScore: (a) => `A rating is from 1 to 5 stars (got ${a[0]}).`,
  SpendCapExceeded: (a) => `This would exceed escrow ${a[0]}'s spend cap.`,
  NoNewUsage: () => "There is no new usage to charge.",
  SignatureExpired: () => "The signature expired before the transaction was mined. Try again.",
  InvalidSignature: () => "The signature does not match the account that must sign.",
  NothingToWithdraw: () => "There is nothing to withdraw for this account.",
  BondTooLow: (a) => `The bond must be at least ${ftns(a[1])}.`,
  BondLocked: () => "The bond is still locked (unbonding, or charges of this listing are awaiting their dispute window).",
  InvalidPrice: () => "The price must be more than zero.",
  InvalidCategory: () => "That category does not exist.",
  InvalidRoyalty: () => "The royalty is not allowed (too high, or a royalty without a recipient).",
  DisputeWindowClosed: () => "The dispute window for this charge has closed.",
  DisputeWindowOpen: () => "The charge is still in its dispute window.",
  ChargeNotPending: () => "This charge is not pending any more.",
  ChargeNotFound: (a) => `Charge ${a[0]} does not exist.`,
  SettlementPeriodOver: () => "This escrow's settlement period is over.",
  InvalidSessionKey: () => "The session key is not valid for this escrow.",
  SessionKeyAlreadyAuthorized: () => "That session key is already authorized for this escrow.",
  SessionKeyNotActive: () => "That session key is not active for this escrow (never authorized or already revoked).",
  // The token
  ERC20InsufficientBalance: (a) => `Not enough FTNS: the account holds ${ftns(a[1])} and this needs ${ftns(a[2])}.`,
  ERC20InsufficientAllowance: (a) => `The marketplace may spend only ${ftns(a[1])} of your FTNS and this needs ${ftns(a[2])}; sign a new permit or approve more.`,
  ERC2612ExpiredSignature: () => "The permit signature expired before the transaction was mined. Try again.",
  ERC2612InvalidSigner: () => "The permit was signed by another account than the one sending. Reconnect the wallet and try again.",
  EnforcedPause: () => "FTNS transfers are paused by the guardian right now.",
  // The governor
  GovernorAlreadyCastVote: () => "This account has already voted on this proposal.",
  GovernorUnexpectedProposalState: () => "The proposal is not in a state that allows this (e.g. voting has not started or has ended).",
  GovernorNonexistentProposal: () => "That proposal does not exist.",
  GovernorInsufficientProposerVotes: () => "This account has too few votes to make a proposal.",
  GovernorInvalidVoteType: () => "That is not a valid vote (for, against or abstain).",
  GovernorOnlyExecutor: () => "Only the timelock can do this.",
  GovernorUnregisteredVoter: () => "This account was not a registered participant when the proposal was made, so it cannot vote on it.",
  GovernorParticipantNotRegistered: () => "This account is not a registered participant of PRSM governance.",
  GovernorParticipantAlreadyRegistered: () => "This account is already a registered participant.",
  GovernorRestrictedProposer: () => "This proposal's description restricts who may propose it.",
};

// Names of the governor's participant errors vary; anything mentioning "Participant" reads the same.
function contractErrorSentence(name: string, args: readonly unknown[]): string {
  const known = CONTRACT_ERRORS[name];
  if (known) return known(args);
  if (/NotParticipant|Participant/.test(name)) return "This account is not a registered participant of PRSM governance, so it cannot vote on this proposal.";
  if (/AccessControl/.test(name)) return "The connected account is not allowed to do this.";
  return `The contract refused the transaction (${name}).`;
}

function decodeData(data: unknown): { name: string; args: readonly unknown[] } | undefined {
  if (typeof data !== "string" || !data.startsWith("0x") || data.length < 10) return undefined;
  try {
    const decoded = decodeErrorResult({ abi: allAbis, data: data as Hex });
    return { name: decoded.errorName, args: (decoded.args ?? []) as readonly unknown[] };
  } catch {
    return undefined;
  }
}

function firstLine(text: string): string {
  const line = text.split("\n").map((l) => l.trim()).find(Boolean) ?? "Something went wrong.";
  return line.length > 240 ? `${line.slice(0, 237)}...` : line;
}

/** Finds a nested EIP-1193 / JSON-RPC error code anywhere in the cause chain. */
function codes(error: unknown): number[] {
  const out: number[] = [];
  let e: any = error;
  for (let i = 0; e && i < 8; i++) {
    if (typeof e.code === "number") out.push(e.code);
    e = e.cause;
  }
  return out;
}

export function explain(error: unknown): string {
  if (error == null) return "Something went wrong.";
  if (typeof error === "string") return firstLine(error);
  if (error instanceof ApiError) {
    if (error.code === "API_DOWN" || error.code === "DATABASE_UNAVAILABLE") return MESSAGES.apiDown;
    if (error.code === "RATE_LIMITED" || error.code === "TOO_MANY_CONCURRENT_REQUESTS") return MESSAGES.rateLimited;
    if (error.code === "QUERY_TIMEOUT" || error.code === "SERVER_BUSY") return "The PRSM API is busy right now; try again in a moment.";
    return `The PRSM API refused the request: ${firstLine(error.message)}`;
  }
  if (error instanceof ServiceError) {
    if (error.status === 402) {
      if (error.code === "acknowledgement-required") return "The provider is waiting for this browser's acknowledgement of earlier answers; reload the chat and try again.";
      return MESSAGES.exhausted;
    }
    if (error.status === 429) return MESSAGES.rateLimited;
    if (error.code === "no-candidate") return "No provider serves this escrow right now: its listing may be paused, or the escrow expired or closed.";
    if (error.status === 401) return `The provider refused this escrow's authorization (${firstLine(error.message)}). If you revoked this browser's session key, open a new escrow.`;
    if (error.status === 0 || error.status === 502 || error.status === 503 || error.status === 504) {
      return error.code === "api-down" ? "The PRSM orchestrator is not reachable right now; try again in a moment." : `No provider could answer right now: ${firstLine(error.message)}`;
    }
    return firstLine(error.message);
  }
  const c = codes(error);
  if (c.includes(4001)) return MESSAGES.rejected;
  if (c.includes(4902)) return "Your wallet does not know PRSM's network yet; use the Switch button to add it.";
  if (error instanceof BaseError) {
    const names: string[] = [];
    error.walk((e) => {
      names.push((e as Error).name);
      return false;
    });
    if (names.includes("UserRejectedRequestError")) return MESSAGES.rejected;
    if (names.some((n) => n === "ChainMismatchError" || n === "SwitchChainNotSupportedError")) return MESSAGES.wrongChain;
    if (names.includes("ConnectorNotConnectedError") || names.includes("ConnectorAccountNotFoundError")) return MESSAGES.notConnected;
    if (names.includes("InsufficientFundsError")) return "The account has too little POL to pay for gas.";
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
    if (reverted) {
      if (reverted.data?.errorName) return contractErrorSentence(reverted.data.errorName, (reverted.data.args ?? []) as readonly unknown[]);
      const raw = decodeData((reverted as unknown as { raw?: Hex }).raw ?? (reverted as unknown as { signature?: Hex }).signature);
      if (raw) return contractErrorSentence(raw.name, raw.args);
      if (reverted.reason) return `The contract refused the transaction: ${reverted.reason}.`;
    }
    // Revert data nested in an RPC error (e.g. estimateGas)
    let found: { name: string; args: readonly unknown[] } | undefined;
    error.walk((e) => {
      found ??= decodeData((e as { data?: unknown }).data) ?? decodeData((e as { data?: { data?: unknown } }).data?.data);
      return false;
    });
    if (found) return contractErrorSentence(found.name, found.args);
    if (/HTTP request failed|fetch failed|Failed to fetch/i.test(error.message)) return "The blockchain node (RPC) is not reachable right now; try again in a moment.";
    return firstLine(error.shortMessage || error.message);
  }
  const data = decodeData((error as { data?: unknown }).data);
  if (data) return contractErrorSentence(data.name, data.args);
  if (error instanceof TypeError && /fetch|network/i.test(error.message)) return "The network request failed: PRSM's server is not reachable right now.";
  if (error instanceof Error) return firstLine(error.message);
  return firstLine(String((error as { message?: unknown }).message ?? error));
}
