/**
 * A proposal's full governor state from its indexed row and the indexed head's time, without a chain call: the
 * events give the lifecycle (created, queued, executed, canceled); the time and the tally give the rest, the same
 * way the governor's `state()` does (OpenZeppelin Governor with timestamp clock, quadratic counting, timelock control).
 * Pure: the API and the tests import it too.
 */
export const PROPOSAL_STATES = ["Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed"] as const;
export type ProposalState = (typeof PROPOSAL_STATES)[number];

export interface ProposalRow {
  lifecycle: string;
  voteStart: bigint;
  voteEnd: bigint;
  forWeight: bigint;
  againstWeight: bigint;
  abstainWeight: bigint;
  quorum: bigint;
}

export function proposalState(p: ProposalRow, now: bigint): ProposalState {
  if (p.lifecycle === "executed") return "Executed";
  if (p.lifecycle === "canceled") return "Canceled";
  // Governor: Pending while the snapshot is not in the past, Active until the deadline has passed.
  if (p.voteStart >= now) return "Pending";
  if (p.voteEnd >= now) return "Active";
  const quorumReached = p.forWeight + p.abstainWeight >= p.quorum;
  if (!quorumReached || p.forWeight <= p.againstWeight) return "Defeated";
  // A queued proposal stays Queued until executed; an operation cancelled directly in the timelock (not through the
  // governor) would read Canceled on chain, which only the timelock's Cancelled event tells.
  return p.lifecycle === "queued" ? "Queued" : "Succeeded";
}
