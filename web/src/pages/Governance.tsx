/**
 * #/governance: FTNS holders' quadratic governance (FTNSGovernor). Proposals from the GraphQL API (state as of the
 * indexed head, quadratic tallies, quorum), the connected account's voting power and participant registration,
 * delegation, voting For / Against / Abstain with a reason, queueing and executing through the timelock, and a form
 * that proposes a marketplace parameter change.
 *
 * Rules the page explains (contracts/governance/*):
 * - a vote counts sqrt(votes delegated to the voter at the proposal's snapshot), in 9-decimal quadratic units;
 * - only accounts registered as participants one second before the proposal was created may vote on it
 *   (`proposalRegistrationTimepoint`, `isParticipantAt`); the governor refuses anybody else (GovernorUnregisteredVoter);
 * - For + Abstain must reach the quorum (quadratic units, fixed at the snapshot) and For must exceed Against;
 * - the governor's clock is the token's (ERC-6372): timestamps here, read from CLOCK_MODE.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { formatUnits, isAddress, keccak256, parseEventLogs, toBytes, type Hex } from "viem";
import { useReadContract } from "wagmi";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/Loading";
import { governorAbi, marketplaceAbi, tokenAbi } from "../lib/abi";
import { currentConfig } from "../lib/config";
import { subscribe, useGql } from "../lib/graphql";
import { formatFtns, formatRelative, formatTime, shortAddress } from "../lib/format";
import { NeedsWallet, useNextBlockTx, TxLine, useChainNow, useMe } from "./account/shared";
import { proposalState } from "../../../indexer/lib/proposal-state";
import { PARAM_SETTERS, defaultDescription, describeAction, encodeParam, formatParam, parseParam } from "./governance/params";

// ------------------------------------------------------------------------------------------------ data

interface Tally {
  forWeight: string;
  againstWeight: string;
  abstainWeight: string;
  quorum: string;
  quorumReached: boolean;
  succeeded: boolean;
  voteCount: number;
}

interface VoteRow {
  id: string;
  voter: string;
  support: number;
  weight: string;
  reason: string;
  timestamp: string;
}

interface ProposalRow {
  id: string;
  proposer: string;
  targets: string[];
  values: string[];
  calldatas: string[];
  description: string;
  voteStart: string;
  voteEnd: string;
  lifecycle: string;
  state: string;
  eta: string | null;
  createdAt: string;
  tally: Tally;
  votes: VoteRow[];
}

const PROPOSALS = /* GraphQL */ `
  query GovernanceProposals($limit: Int!) {
    _meta { block { number timestamp } }
    proposals(orderBy: createdAt, orderDirection: desc, limit: $limit) {
      items {
        id proposer targets values calldatas description voteStart voteEnd lifecycle state eta createdAt
        tally { forWeight againstWeight abstainWeight quorum quorumReached succeeded voteCount }
        votes(limit: 20) { id voter support weight reason timestamp }
      }
    }
  }
`;

const ME = /* GraphQL */ `
  query GovernanceAccount($address: String!) {
    account(address: $address) { address balance votes delegate }
    participant(address: $address) { address registered registrar since until }
  }
`;

/** The governor's ProposalState enum. */
const STATES = ["Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed"] as const;
const SUPPORT = [
  { value: 1, key: "for", label: "For" },
  { value: 0, key: "against", label: "Against" },
  { value: 2, key: "abstain", label: "Abstain" },
] as const;
const SUPPORT_NAME: Record<number, string> = { 0: "Against", 1: "For", 2: "Abstain" };

/** States only a transaction can reach: the chain's word is final (the indexer may be a block behind). */
const SETTLED = new Set(["Canceled", "Queued", "Expired", "Executed"]);

/**
 * The state a transaction sent now would meet. The chain's `state()` is as of the latest block, and a local chain
 * mines only on demand, so a proposal whose voting opened seconds ago still reads Pending there although a vote sent
 * now lands in a block past its snapshot. So: the chain's word for what only transactions change (queued, executed,
 * canceled, expired), else the indexer's own derivation (indexer/lib/proposal-state.ts, the rules of `state()`) at
 * the next block's estimated time, with the chain's deadline (late-quorum extensions included).
 */
function effectiveState(chain: string | undefined, p: ProposalRow, deadline: bigint | undefined, now: number, timestamps: boolean): string {
  if (chain && (SETTLED.has(chain) || !timestamps)) return chain;
  const voteEnd = deadline !== undefined && deadline > BigInt(p.voteEnd) ? deadline : BigInt(p.voteEnd);
  return proposalState(
      {
        lifecycle: p.lifecycle,
        voteStart: BigInt(p.voteStart),
        voteEnd,
        forWeight: BigInt(p.tally.forWeight),
        againstWeight: BigInt(p.tally.againstWeight),
        abstainWeight: BigInt(p.tally.abstainWeight),
        quorum: BigInt(p.tally.quorum),
      },
      BigInt(now),
    );
}

/** Quadratic units carry 9 decimals (sqrt of 18-decimal raw FTNS). */
export function formatQuadratic(value: bigint | string | undefined): string {
  if (value === undefined) return "—";
  const n = Number(formatUnits(BigInt(value), 9));
  return n.toLocaleString("en-US", { maximumFractionDigits: 3 });
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = n;
  let y = (x + 1n) / 2n;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2n;
  }
  return x;
}

/** Whether the governor's clock is timestamps (ERC-6372 CLOCK_MODE "mode=timestamp"), else block numbers. */
function useClockIsTimestamp(): boolean {
  const config = currentConfig();
  const mode = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "CLOCK_MODE", query: { staleTime: Infinity } });
  return mode.data === undefined ? true : /mode=timestamp/.test(mode.data);
}

function Timepoint({ value, timestamps, now }: { value: string | bigint | number; timestamps: boolean; now: number }) {
  if (!timestamps) return <span>block {String(value)}</span>;
  return (
    <span title={formatTime(value)}>
      {formatTime(value)} <span className="muted">({formatRelative(value, now)})</span>
    </span>
  );
}

// ------------------------------------------------------------------------------------------------ page

export default function GovernancePage() {
  const queryClient = useQueryClient();
  const [fast, setFast] = useState<{ id: string; until: number } | undefined>();
  const proposals = useGql<{ _meta: { block: { number: string; timestamp: string } | null }; proposals: { items: ProposalRow[] } }>(
    "governance-proposals",
    PROPOSALS,
    { limit: 25 },
    { refetchInterval: fast ? 1_000 : 5_000 },
  );

  // After a vote (or queue / execute), follow the proposal's events so its tally and state move as soon as the
  // indexer has the new block, and poll quickly for a while in case the live connection is not available.
  useEffect(() => {
    if (!fast) return;
    const stop = subscribe<{ proposalEvents: { name: string } }>(
      "subscription ($id: BigInt!) { proposalEvents(id: $id) { name blockNumber } }",
      { id: fast.id },
      () => void queryClient.invalidateQueries({ queryKey: ["governance-proposals"] }),
      () => undefined,
    );
    const timer = setTimeout(() => setFast(undefined), Math.max(0, fast.until - Date.now()));
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [fast, queryClient]);

  const onChanged = (id: string) => {
    setFast({ id, until: Date.now() + 30_000 });
    void queryClient.invalidateQueries({ queryKey: ["governance-proposals"] });
  };

  return (
    <div className="page governance" data-testid="governance-page">
      <h1>Governance</h1>
      <p className="muted">
        FTNS holders steer the protocol: proposals change parameters, upgrade contracts or spend the treasury, and run through a timelock. A registered
        participant's vote counts the square root of the FTNS delegated to it (quadratic voting), so splitting tokens across wallets gains nothing.
      </p>
      <VotingPower />
      <section className="card" data-testid="proposals">
        <h2>Proposals</h2>
        {proposals.isPending && <Loading label="Loading proposals…" />}
        {proposals.error && <ErrorMessage error={proposals.error} retry={() => void proposals.refetch()} />}
        {proposals.data && proposals.data.proposals.items.length === 0 && <p className="muted">No proposals yet.</p>}
        {proposals.data?.proposals.items.map((p) => <ProposalCard key={p.id} proposal={p} onChanged={onChanged} />)}
      </section>
      <ProposeForm onProposed={(id) => onChanged(id)} />
    </div>
  );
}

// ------------------------------------------------------------------------------------------------ voting power

function VotingPower() {
  const { address, lower } = useMe();
  const config = currentConfig();
  const timestamps = useClockIsTimestamp();
  const now = useChainNow();
  const account = useGql<{
    account: { balance: string; votes: string; delegate: string | null } | null;
    participant: { registered: boolean; registrar: string; since: string; until: string | null } | null;
  }>("governance-me", ME, { address: lower ?? "" }, { enabled: !!lower, refetchInterval: 10_000 });
  const balance = useReadContract({ address: config.contracts.token, abi: tokenAbi, functionName: "balanceOf", args: address ? [address] : undefined, query: { enabled: !!address } });
  const votes = useReadContract({ address: config.contracts.token, abi: tokenAbi, functionName: "getVotes", args: address ? [address] : undefined, query: { enabled: !!address } });
  const delegate = useReadContract({ address: config.contracts.token, abi: tokenAbi, functionName: "delegates", args: address ? [address] : undefined, query: { enabled: !!address } });
  const participant = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "isParticipant", args: address ? [address] : undefined, query: { enabled: !!address } });
  const threshold = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "proposalThreshold" });
  const tx = useNextBlockTx();
  const [to, setTo] = useState("");

  const zero = "0x0000000000000000000000000000000000000000";
  const delegatee = delegate.data ?? (account.data?.account?.delegate as `0x${string}` | undefined);
  const votesNow = votes.data ?? (account.data?.account ? BigInt(account.data.account.votes) : undefined);
  const reg = account.data?.participant;
  const delegateTo = (target: `0x${string}`) => void tx.send({ address: config.contracts.token, abi: tokenAbi, functionName: "delegate", args: [target] });

  return (
    <section className="card" data-testid="voting-power">
      <h2>Your voting power</h2>
      <NeedsWallet what="see your voting power, delegate and vote">
        <dl className="facts">
          <dt>FTNS balance</dt>
          <dd data-testid="gov-balance">{balance.data !== undefined ? formatFtns(balance.data) : "—"}</dd>
          <dt>Votes delegated to you</dt>
          <dd data-testid="gov-votes">
            {votesNow !== undefined ? formatFtns(votesNow) : "—"}
            {votesNow !== undefined && <span className="muted"> = {formatQuadratic(isqrt(votesNow))} quadratic units per vote</span>}
          </dd>
          <dt>Your delegate</dt>
          <dd data-testid="gov-delegate">
            {!delegatee || delegatee === zero ? (
              <span>nobody: your FTNS does not count in any vote until you delegate it (to yourself or someone else)</span>
            ) : delegatee.toLowerCase() === lower ? (
              "yourself"
            ) : (
              shortAddress(delegatee)
            )}
          </dd>
          <dt>Registered participant</dt>
          <dd data-testid="gov-participant">
            {participant.data === true ? (
              <span>
                yes{reg ? <span className="muted"> (since {timestamps ? formatTime(reg.since) : `block ${reg.since}`})</span> : null}: you may vote on proposals created while you are registered
              </span>
            ) : participant.data === false ? (
              <span>
                no{reg && reg.registered && Number(reg.since) > now ? ` (registered, effective ${formatTime(reg.since)}: an attestor's registration takes effect 14 days after it is made)` : ""}
                {reg && !reg.registered && reg.until ? ` (registration ended ${formatTime(reg.until)})` : ""}. Only registered participants carry weight, so that
                nobody gains by splitting FTNS across wallets; your votes would be refused. Governance (a proposal) or an attestor it appoints registers
                participants.
              </span>
            ) : (
              "—"
            )}
          </dd>
          <dt>Proposal threshold</dt>
          <dd>
            {threshold.data !== undefined ? formatFtns(threshold.data) : "—"} delegated to you to make a proposal
          </dd>
        </dl>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (isAddress(to.trim())) delegateTo(to.trim() as `0x${string}`);
          }}
        >
          <label>
            Delegate to{" "}
            <input data-testid="delegate-input" value={to} onChange={(e) => setTo(e.target.value)} placeholder="0x… address" size={44} spellCheck={false} />
          </label>{" "}
          <button type="submit" data-testid="delegate-submit" disabled={!isAddress(to.trim()) || tx.status === "pending"}>
            Delegate
          </button>{" "}
          <button type="button" data-testid="delegate-self" disabled={!address || tx.status === "pending"} onClick={() => address && delegateTo(address)}>
            Delegate to myself
          </button>{" "}
          {to.trim() !== "" && !isAddress(to.trim()) && <span className="error">Not an address.</span>}
          <TxLine tx={tx} testId="delegate-status" done="Delegated. Votes count from proposals whose snapshot is after this block." />
        </form>
        <p className="muted">
          Delegation moves voting power, not tokens. A proposal counts the votes delegated at its snapshot (its voting start), so delegate before then.
        </p>
      </NeedsWallet>
    </section>
  );
}

// ------------------------------------------------------------------------------------------------ one proposal

function ProposalCard({ proposal: p, onChanged }: { proposal: ProposalRow; onChanged: (id: string) => void }) {
  const config = currentConfig();
  const { address, lower } = useMe();
  const now = useChainNow();
  const timestamps = useClockIsTimestamp();
  const id = BigInt(p.id);
  const tx = useNextBlockTx();
  const [reason, setReason] = useState("");

  const chainState = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "state", args: [id], query: { refetchInterval: 5_000 } });
  const needsQueuing = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "proposalNeedsQueuing", args: [id], query: { staleTime: Infinity } });
  const eta = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "proposalEta", args: [id] });
  const regTimepoint = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "proposalRegistrationTimepoint", args: [id], query: { staleTime: Infinity } });
  const hasVoted = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "hasVoted", args: address ? [id, address] : undefined, query: { enabled: !!address } });
  const wasParticipant = useReadContract({
    address: config.contracts.governor,
    abi: governorAbi,
    functionName: "isParticipantAt",
    args: address && regTimepoint.data !== undefined ? [address, regTimepoint.data] : undefined,
    query: { enabled: !!address && regTimepoint.data !== undefined },
  });
  const snapshot = BigInt(p.voteStart);
  const snapshotPast = timestamps ? BigInt(now) > snapshot + 1n : true;
  const pastVotes = useReadContract({
    address: config.contracts.token,
    abi: tokenAbi,
    functionName: "getPastVotes",
    args: address ? [address, snapshot] : undefined,
    query: { enabled: !!address && snapshotPast, retry: false },
  });
  // Before the chain has a block past the snapshot, getPastVotes cannot answer: today's votes are the estimate.
  const currentVotes = useReadContract({ address: config.contracts.token, abi: tokenAbi, functionName: "getVotes", args: address ? [address] : undefined, query: { enabled: !!address && pastVotes.data === undefined } });
  const votesAtSnapshot = pastVotes.data ?? currentVotes.data;

  const deadline = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "proposalDeadline", args: [id], query: { refetchInterval: 15_000 } });
  const stateName = effectiveState(chainState.data !== undefined ? STATES[chainState.data] : p.state, p, deadline.data, now, timestamps);
  const forW = BigInt(p.tally.forWeight);
  const againstW = BigInt(p.tally.againstWeight);
  const abstainW = BigInt(p.tally.abstainWeight);
  const quorum = BigInt(p.tally.quorum);
  const toward = forW + abstainW;
  const pct = quorum > 0n ? Math.min(100, Number((toward * 10_000n) / quorum) / 100) : 100;
  const myVote = lower ? p.votes.find((v) => v.voter.toLowerCase() === lower) : undefined;
  const voted = hasVoted.data === true || !!myVote;
  const active = stateName === "Active";
  const notParticipant = wasParticipant.data === false;
  const etaValue = eta.data !== undefined && eta.data > 0n ? eta.data : p.eta ? BigInt(p.eta) : 0n;
  const descriptionHash = keccak256(toBytes(p.description)) as Hex;
  const actions = useMemo(() => ({ targets: p.targets as `0x${string}`[], values: p.values.map((v) => BigInt(v)), calldatas: p.calldatas as Hex[] }), [p]);
  const title = p.description.split("\n")[0]!.replace(/^#+\s*/, "") || `Proposal ${shortAddress(p.id)}`;

  const vote = async (support: number) => {
    const receipt = await tx.send({ address: config.contracts.governor, abi: governorAbi, functionName: "castVoteWithReason", args: [id, support, reason] });
    if (receipt) {
      setReason("");
      void hasVoted.refetch();
      onChanged(p.id);
    }
  };
  const queueOrExecute = async (functionName: "queue" | "execute") => {
    const receipt = await tx.send({ address: config.contracts.governor, abi: governorAbi, functionName, args: [actions.targets, actions.values, actions.calldatas, descriptionHash] });
    if (receipt) {
      void chainState.refetch();
      void eta.refetch();
      onChanged(p.id);
    }
  };

  let eligibility: string | undefined;
  if (!address) eligibility = "Connect a wallet to vote.";
  else if (voted) eligibility = myVote ? `You voted ${SUPPORT_NAME[myVote.support]} with ${formatQuadratic(myVote.weight)} quadratic units.` : "You have voted on this proposal.";
  else if (notParticipant)
    eligibility = `Your account was not a registered participant when this proposal was created (checked at ${
      timestamps && regTimepoint.data !== undefined ? formatTime(regTimepoint.data) : `timepoint ${regTimepoint.data}`
    }, one second before its creation), so the governor would refuse your vote: only participants registered by then vote on it. Registering now counts for later proposals.`;
  else if (stateName === "Pending") eligibility = `Voting opens at the snapshot; the votes delegated to you then are what counts.`;
  else if (active && votesAtSnapshot === 0n)
    eligibility = "No votes were delegated to you at this proposal's snapshot, so your vote would count 0. Delegate (to yourself) before a proposal's snapshot for your FTNS to count.";
  else if (active && votesAtSnapshot !== undefined)
    eligibility = `Your vote counts ${formatQuadratic(isqrt(votesAtSnapshot))} quadratic units (the square root of ${formatFtns(votesAtSnapshot)} delegated to you at the snapshot).`;

  return (
    <article className="card proposal" data-testid={`proposal-${p.id}`}>
      <header>
        <h3>{title}</h3>
        <span className={`badge state-${stateName.toLowerCase()}`} data-testid={`state-${p.id}`}>
          {stateName}
        </span>
      </header>
      <p className="muted">
        #{shortAddress(p.id)} by {shortAddress(p.proposer)} · created {timestamps ? formatTime(p.createdAt) : `block ${p.createdAt}`}
      </p>
      {p.description.includes("\n") && <pre className="description">{p.description}</pre>}
      <ul className="actions">
        {p.targets.map((t, i) => (
          <li key={i}>
            <code>{describeAction(t, p.calldatas[i] ?? "0x", p.values[i] ?? "0", config.contracts.marketplace)}</code>
          </li>
        ))}
      </ul>
      <dl className="facts">
        <dt>Voting</dt>
        <dd>
          opens <Timepoint value={p.voteStart} timestamps={timestamps} now={now} />, closes <Timepoint value={p.voteEnd} timestamps={timestamps} now={now} />
        </dd>
        {etaValue > 0n && (
          <>
            <dt>Timelock</dt>
            <dd>
              executable from <Timepoint value={etaValue} timestamps={timestamps} now={now} />
            </dd>
          </>
        )}
      </dl>
      <div className="tally" data-testid={`tally-${p.id}`}>
        <span data-testid={`tally-for-${p.id}`}>For {formatQuadratic(forW)}</span> · <span data-testid={`tally-against-${p.id}`}>Against {formatQuadratic(againstW)}</span> ·{" "}
        <span data-testid={`tally-abstain-${p.id}`}>Abstain {formatQuadratic(abstainW)}</span> · <span data-testid={`vote-count-${p.id}`}>{p.tally.voteCount} votes</span>
      </div>
      <div className="quorum" data-testid={`quorum-${p.id}`}>
        <progress max={100} value={pct} aria-label="quorum progress" /> Quorum: {formatQuadratic(toward)} of {formatQuadratic(quorum)} quadratic units (For + Abstain)
        {p.tally.quorumReached ? " · reached" : ""}
        {forW > againstW ? "" : toward > 0n ? " · For must exceed Against" : ""}
      </div>
      {active && (
        <div className="vote">
          <input
            data-testid={`vote-reason-${p.id}`}
            placeholder="Reason (optional)"
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            maxLength={500}
            disabled={voted || !address}
          />{" "}
          {SUPPORT.map((s) => (
            <button
              key={s.key}
              type="button"
              data-testid={`vote-${s.key}-${p.id}`}
              disabled={!address || voted || notParticipant || tx.status === "pending"}
              onClick={() => void vote(s.value)}
            >
              {s.label}
            </button>
          ))}
        </div>
      )}
      {eligibility && (active || voted || notParticipant) && (
        <p className="muted" data-testid={`eligibility-${p.id}`}>
          {eligibility}
        </p>
      )}
      {stateName === "Succeeded" && (
        <button type="button" data-testid={`${needsQueuing.data === false ? "execute" : "queue"}-${p.id}`} disabled={!address || tx.status === "pending"} onClick={() => void queueOrExecute(needsQueuing.data === false ? "execute" : "queue")}>
          {needsQueuing.data === false ? "Execute" : "Queue"}
        </button>
      )}
      {stateName === "Queued" && (
        <>
          <button type="button" data-testid={`execute-${p.id}`} disabled={!address || tx.status === "pending" || (etaValue > 0n && BigInt(now) < etaValue)} onClick={() => void queueOrExecute("execute")}>
            Execute
          </button>{" "}
          {etaValue > 0n && BigInt(now) < etaValue && <span className="muted">The timelock delay runs until {formatTime(etaValue)}; anyone may execute it then.</span>}
        </>
      )}
      {stateName === "Defeated" && (
        <p className="muted">
          {!p.tally.quorumReached ? "Defeated: For + Abstain did not reach the quorum." : "Defeated: For did not exceed Against."}
        </p>
      )}
      <TxLine tx={tx} testId={`tx-${p.id}`} />
      {p.votes.length > 0 && (
        <details>
          <summary>Votes ({p.tally.voteCount})</summary>
          <ul className="votes">
            {p.votes.map((v) => (
              <li key={v.id}>
                {shortAddress(v.voter)}: {SUPPORT_NAME[v.support]} · {formatQuadratic(v.weight)}
                {v.reason ? <span className="muted"> — {v.reason}</span> : null}
              </li>
            ))}
          </ul>
        </details>
      )}
    </article>
  );
}

// ------------------------------------------------------------------------------------------------ propose

function ProposeForm({ onProposed }: { onProposed: (id: string) => void }) {
  const config = currentConfig();
  const { address } = useMe();
  const [setterName, setSetterName] = useState<string>(PARAM_SETTERS[0]!.setter);
  const [valueText, setValueText] = useState("");
  const [description, setDescription] = useState("");
  const [edited, setEdited] = useState(false);
  const [created, setCreated] = useState<string | undefined>();
  const tx = useNextBlockTx();
  const param = PARAM_SETTERS.find((s) => s.setter === setterName)!;
  const current = useReadContract({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: param.view });
  const threshold = useReadContract({ address: config.contracts.governor, abi: governorAbi, functionName: "proposalThreshold" });
  const votes = useReadContract({ address: config.contracts.token, abi: tokenAbi, functionName: "getVotes", args: address ? [address] : undefined, query: { enabled: !!address } });
  const parsed = valueText.trim() ? parseParam(param, valueText) : undefined;
  const value = parsed && "value" in parsed ? parsed.value : undefined;
  const auto = value !== undefined ? defaultDescription(param, value) : "";
  const text = edited ? description : auto;
  const belowThreshold = threshold.data !== undefined && votes.data !== undefined && votes.data < threshold.data;

  const submit = async () => {
    if (value === undefined || !text.trim()) return;
    setCreated(undefined);
    const receipt = await tx.send({
      address: config.contracts.governor,
      abi: governorAbi,
      functionName: "propose",
      args: [[config.contracts.marketplace], [0n], [encodeParam(param, value)], text],
    });
    if (!receipt) return;
    const logs = parseEventLogs({ abi: governorAbi, logs: receipt.logs, eventName: "ProposalCreated" });
    const id = logs[0]?.args.proposalId;
    if (id !== undefined) {
      setCreated(id.toString());
      onProposed(id.toString());
    }
    setValueText("");
    setEdited(false);
    setDescription("");
  };

  return (
    <section className="card" data-testid="propose">
      <h2>Propose a parameter change</h2>
      <NeedsWallet what="make a proposal">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <p>
            <label>
              Parameter{" "}
              <select data-testid="propose-param" value={setterName} onChange={(e) => setSetterName(e.target.value)}>
                {PARAM_SETTERS.map((s) => (
                  <option key={s.setter} value={s.setter}>
                    {s.label} ({s.setter})
                  </option>
                ))}
              </select>
            </label>
          </p>
          <p className="muted">
            {param.help} Now: <span data-testid="propose-current">{formatParam(param, current.data as bigint | number | undefined)}</span>.
          </p>
          <p>
            <label>
              New value ({param.kind === "ftns" ? "FTNS" : param.kind === "bps" ? "basis points" : "seconds"}){" "}
              <input data-testid="propose-value" value={valueText} onChange={(e) => setValueText(e.target.value)} inputMode="decimal" />
            </label>{" "}
            {parsed && "error" in parsed && <span className="error">{parsed.error}</span>}
            {value !== undefined && <span className="muted">= {formatParam(param, value)}</span>}
          </p>
          <p>
            <label>
              Description
              <br />
              <textarea
                data-testid="propose-description"
                rows={3}
                cols={70}
                value={text}
                onChange={(e) => {
                  setEdited(true);
                  setDescription(e.target.value);
                }}
              />
            </label>
          </p>
          <p className="muted">
            The proposal calls {param.setter} on the marketplace ({shortAddress(config.contracts.marketplace)}) through the timelock once it passes. Its id is the
            hash of the actions and of this description, which queueing and executing repeat.
          </p>
          {belowThreshold && (
            <p className="error" data-testid="propose-threshold">
              You have {formatFtns(votes.data)} delegated to you; a proposal needs {formatFtns(threshold.data)}. Delegate to yourself (above) or ask holders to delegate to you.
            </p>
          )}
          <button type="submit" data-testid="propose-submit" disabled={value === undefined || !text.trim() || tx.status === "pending"}>
            Propose
          </button>{" "}
          <TxLine tx={tx} testId="propose-status" done={created ? `Proposal ${shortAddress(created)} created.` : "Proposal created."} />
        </form>
      </NeedsWallet>
    </section>
  );
}
