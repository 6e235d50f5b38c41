/**
 * #/account: the connected account's FTNS, votes and delegate; its escrows (open and closed) with their charges;
 * per escrow Close (after expiry + the escrow's settlement grace), Dispute a pending attested charge (within its
 * window, bonding the escrow's dispute bond), Rate a closed escrow, Open chat, Revoke the browser's session key;
 * and Withdraw payouts.
 */
import { useState } from "react";
import { parseEventLogs, type Hex } from "viem";
import { useConfig, useReadContract } from "wagmi";
import { getTransactionReceipt } from "wagmi/actions";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/Loading";
import { marketplaceAbi, tokenAbi } from "../lib/abi";
import { currentConfig } from "../lib/config";
import { useGql } from "../lib/graphql";
import { formatFtns, formatRelative, formatTime, formatUsd, shortAddress, unitName } from "../lib/format";
import { loadSession, updateSession } from "../lib/session";
import { NeedsWallet, useNextBlockTx, PayoutsPanel, TxLine, seconds, useApproveThen, useChainNow, useMe } from "./account/shared";

interface DisputeRow {
  resolved: boolean;
  bond: string | null;
  resolveBy: string | null;
  paidToProvider: boolean | null;
  byDefault: boolean | null;
}

interface ChargeRow {
  id: string;
  chargeId: string;
  amount: string;
  units: string;
  attested: boolean;
  status: string;
  disputableUntil: string;
  timestamp: string;
  txHash: string;
  batchId: string | null;
  batchIndex: number | null;
  dispute: DisputeRow | null;
}

interface EscrowRow {
  id: string;
  listingId: string;
  provider: string;
  deposit: string;
  spendCap: string;
  pricePerUnit: string;
  expiresAt: string;
  charged: string;
  remaining: string;
  units: string;
  status: string;
  refund: string | null;
  closedBy: string | null;
  openedAt: string;
  closedAt: string | null;
  listing: { name: string | null; vendor: string | null; unit: number } | null;
  rating: { score: number } | null;
  charges: ChargeRow[];
}

const ACCOUNT_QUERY = /* GraphQL */ `
  query AccountPage($address: String!) {
    account(address: $address) { address balance votes delegate }
    escrows(where: { renter: $address }, orderBy: openedAt, orderDirection: desc, limit: 25) {
      items {
        id listingId provider deposit spendCap pricePerUnit expiresAt charged remaining units status refund closedBy openedAt closedAt
        listing { name vendor unit }
        rating { score }
        charges(limit: 10) {
          id chargeId amount units attested status disputableUntil timestamp txHash batchId batchIndex
          dispute { resolved bond resolveBy paidToProvider byDefault }
        }
      }
    }
  }
`;

/** disputeBatchEntry lives in the batch module the marketplace delegatecalls (IMarketplaceBatches). */
const disputeBatchEntryAbi = [
  {
    type: "function",
    name: "disputeBatchEntry",
    stateMutability: "nonpayable",
    inputs: [
      { name: "batchId", type: "uint256" },
      { name: "applied", type: "bytes32[]" },
      { name: "index", type: "uint256" },
    ],
    outputs: [{ name: "chargeId", type: "uint256" }],
  },
] as const;

export default function AccountPage() {
  const { lower } = useMe();
  return (
    <div className="page account" data-testid="account-page">
      <h1>Account</h1>
      <NeedsWallet what="see your FTNS, escrows and payouts">
        <Holdings />
        {lower && <Escrows address={lower} />}
        <PayoutsPanel />
      </NeedsWallet>
    </div>
  );
}

function Holdings() {
  const { address, lower } = useMe();
  const config = currentConfig();
  const balance = useReadContract({ address: config.contracts.token, abi: tokenAbi, functionName: "balanceOf", args: address ? [address] : undefined, query: { enabled: !!address, refetchInterval: 10_000 } });
  const votes = useReadContract({ address: config.contracts.token, abi: tokenAbi, functionName: "getVotes", args: address ? [address] : undefined, query: { enabled: !!address } });
  const delegate = useReadContract({ address: config.contracts.token, abi: tokenAbi, functionName: "delegates", args: address ? [address] : undefined, query: { enabled: !!address } });
  const zero = "0x0000000000000000000000000000000000000000";
  return (
    <section className="card" data-testid="holdings">
      <h2>{shortAddress(address)}</h2>
      <dl className="facts">
        <dt>FTNS balance</dt>
        <dd data-testid="balance">
          {balance.data !== undefined ? formatFtns(balance.data) : "—"} <span className="muted">{balance.data !== undefined ? formatUsd(balance.data, config.usdPerFtns) : ""}</span>
        </dd>
        <dt>Votes</dt>
        <dd data-testid="votes">{votes.data !== undefined ? formatFtns(votes.data) : "—"}</dd>
        <dt>Delegate</dt>
        <dd data-testid="delegate">
          {delegate.data === undefined ? "—" : delegate.data === zero ? (
            <span>
              none — <a href="#/governance">delegate on the Governance page</a> for your FTNS to count in votes
            </span>
          ) : delegate.data.toLowerCase() === lower ? (
            "yourself"
          ) : (
            shortAddress(delegate.data)
          )}
        </dd>
      </dl>
      {balance.error && <ErrorMessage error={balance.error} />}
    </section>
  );
}

function Escrows({ address }: { address: string }) {
  const data = useGql<{ account: { balance: string } | null; escrows: { items: EscrowRow[] } }>("account-escrows", ACCOUNT_QUERY, { address }, { refetchInterval: 5_000 });
  const [showClosed, setShowClosed] = useState(true);
  if (data.isPending) return <Loading label="Loading your escrows…" />;
  if (data.error) return <ErrorMessage error={data.error} retry={() => void data.refetch()} />;
  const items = data.data.escrows.items;
  const open = items.filter((e) => e.status === "open");
  const closed = items.filter((e) => e.status !== "open");
  // One keyed list (open ones first), so an escrow that closes moves without losing its card's state.
  const shown = [...open, ...(showClosed ? closed : [])];
  return (
    <section className="card" data-testid="escrows">
      <h2>
        Escrows: <span data-testid="open-count">{open.length} open</span>, <span data-testid="closed-count">{closed.length} closed</span>{" "}
        {closed.length > 0 && (
          <button type="button" className="link" onClick={() => setShowClosed((s) => !s)}>
            {showClosed ? "hide closed" : "show closed"}
          </button>
        )}
      </h2>
      {items.length === 0 && (
        <p className="muted">
          No escrows yet. <a href="#/">Rent a model on the market</a>.
        </p>
      )}
      {items.length === 25 && <p className="muted small">The 25 most recent escrows.</p>}
      {shown.map((e) => (
        <EscrowCard key={e.id} escrow={e} />
      ))}
    </section>
  );
}

function EscrowCard({ escrow: e }: { escrow: EscrowRow }) {
  const config = currentConfig();
  const now = useChainNow();
  const id = BigInt(e.id);
  const onChain = useReadContract({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "getEscrow", args: [id], query: { refetchInterval: 10_000 } });
  const termsId = onChain.data?.termsId;
  const terms = useReadContract({
    address: config.contracts.marketplace,
    abi: marketplaceAbi,
    functionName: "getTerms",
    args: termsId !== undefined ? [termsId] : undefined,
    query: { enabled: termsId !== undefined, staleTime: Infinity },
  });
  const close = useNextBlockTx();
  const rate = useNextBlockTx();
  const [score, setScore] = useState(5);

  // The chain is authoritative (the indexer may be a block behind right after a transaction).
  const isOpen = onChain.data ? onChain.data.status === 1 : e.status === "open";
  const rated = (onChain.data?.rated ?? false) || !!e.rating;
  const grace = terms.data?.settlementGrace;
  const closableAt = grace !== undefined ? Number(e.expiresAt) + Number(grace) : undefined;
  const closable = closableAt !== undefined ? now > closableAt : !!terms.error || !!onChain.error;
  const name = e.listing?.name ?? `Listing ${e.listingId}`;
  const unit = unitName(e.listing?.unit);

  return (
    <article className="card escrow" data-testid={`escrow-${e.id}`}>
      <header className="row">
        <h3>
          Escrow {e.id}: <a href={`#/listing/${e.listingId}`}>{name}</a>
        </h3>
        <span className={`status ${isOpen ? "open" : "closed"}`} data-testid={`escrow-status-${e.id}`}>
          {isOpen ? "open" : "closed"}
        </span>
      </header>
      <dl className="facts">
        <dt>Deposit</dt>
        <dd>
          {formatFtns(e.deposit)} (spend cap {formatFtns(e.spendCap)})
        </dd>
        <dt>Charged</dt>
        <dd data-testid={`charged-${e.id}`}>
          {formatFtns(e.charged)} for {BigInt(e.units).toLocaleString("en-US")} {unit}s at {formatFtns(e.pricePerUnit, 8)} a {unit}
        </dd>
        <dt>{isOpen ? "Remaining" : "Refunded"}</dt>
        <dd>{isOpen ? formatFtns(e.remaining) : e.refund != null ? formatFtns(e.refund) : "—"}</dd>
        <dt>Provider</dt>
        <dd>{shortAddress(e.provider)}</dd>
        <dt>{isOpen ? "Expires" : "Closed"}</dt>
        <dd>
          {isOpen ? (
            <>
              {formatTime(e.expiresAt)} <span className="muted">({formatRelative(e.expiresAt, now)})</span>
            </>
          ) : (
            formatTime(e.closedAt)
          )}
        </dd>
      </dl>

      <div className="row actions">
        {isOpen && (
          <a href={`#/chat/${e.id}`} data-testid={`chat-${e.id}`} className="button">
            Open chat
          </a>
        )}
        {isOpen && (
          <>
            <button
              type="button"
              data-testid={`close-${e.id}`}
              disabled={!closable || close.status === "pending"}
              onClick={() => void close.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "closeEscrow", args: [id] }).then(() => onChain.refetch())}
            >
              Close escrow
            </button>
            {!closable && closableAt !== undefined && (
              <span className="muted" data-testid={`close-note-${e.id}`}>
                Closable after {formatTime(closableAt)} ({formatRelative(closableAt, now)}): its expiry plus the {seconds(grace)} settlement grace during which
                the provider may still charge usage you received. The unspent deposit then returns to you.
              </span>
            )}
            <TxLine tx={close} testId={`close-status-${e.id}`} done="Closed: the unspent deposit is back in your wallet." />
          </>
        )}
        {!isOpen && !rated && (
          <>
            <label>
              Rating{" "}
              <select data-testid={`rate-score-${e.id}`} value={score} onChange={(ev) => setScore(Number(ev.target.value))}>
                {[5, 4, 3, 2, 1].map((s) => (
                  <option key={s} value={s}>
                    {"★".repeat(s)} {s}
                  </option>
                ))}
              </select>
            </label>
            <button
              type="button"
              data-testid={`rate-${e.id}`}
              disabled={rate.status === "pending"}
              onClick={() => void rate.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "rate", args: [id, score] }).then(() => onChain.refetch())}
            >
              Rate
            </button>
            <TxLine tx={rate} testId={`rate-status-${e.id}`} done="Thanks: your rating is recorded." />
          </>
        )}
        {!isOpen && rated && (
          <span data-testid={`rating-${e.id}`}>{e.rating ? `Rated ${"★".repeat(e.rating.score)} (${e.rating.score})` : rate.status === "confirmed" ? `Rated ${"★".repeat(score)} (${score})` : "Rated"}</span>
        )}
      </div>
      {isOpen && <SessionKey escrowId={e.id} />}
      <Charges escrow={e} disputeBond={terms.data?.disputeBond} now={now} />
    </article>
  );
}

/** The session key the chat page keeps in this browser for the escrow (lib/session.ts), if any, with Revoke. */
function SessionKey({ escrowId }: { escrowId: string }) {
  const config = currentConfig();
  const { lower } = useMe();
  const session = loadSession(escrowId);
  const key = session && (!session.renter || session.renter.toLowerCase() === lower) ? session.address : undefined;
  const state = useReadContract({
    address: config.contracts.marketplace,
    abi: marketplaceAbi,
    functionName: "sessionKey",
    args: key ? [BigInt(escrowId), key] : undefined,
    query: { enabled: !!key, retry: false },
  });
  const tx = useNextBlockTx();
  if (!key) return null;
  const [authorized, revokedAt] = state.data ?? [undefined, undefined];
  const revoked = (revokedAt !== undefined && revokedAt > 0) || tx.status === "confirmed";
  const revoke = async () => {
    const receipt = await tx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "revokeSessionKey", args: [BigInt(escrowId), key] });
    if (receipt) updateSession(escrowId, (s) => void (s.revoked = true));
    void state.refetch();
  };
  return (
    <div className="row session-key" data-testid={`session-key-${escrowId}`}>
      <span className="muted">
        This browser's session key {shortAddress(key)} signs the chat's queries for this escrow
        {authorized === false ? " (not authorized on chain)" : revoked && revokedAt ? ` (revoked ${formatTime(revokedAt)})` : revoked ? " (revoked)" : ""}.
      </span>
      {authorized !== false && !revoked && (
        <button type="button" data-testid={`revoke-${escrowId}`} disabled={tx.status === "pending"} onClick={() => void revoke()}>
          Revoke session key
        </button>
      )}
      <TxLine
        tx={tx}
        testId={`revoke-status-${escrowId}`}
        done="Revoked: providers stop accepting this key's new authorizations within 10 minutes. Receipts it already signed stay chargeable."
      />
    </div>
  );
}

function Charges({ escrow: e, disputeBond, now }: { escrow: EscrowRow; disputeBond: bigint | undefined; now: number }) {
  if (e.charges.length === 0) return <p className="muted">No charges yet.</p>;
  return (
    <details open={e.charges.some((c) => c.status === "pending" || c.status === "disputed")}>
      <summary>Charges ({e.charges.length}{e.charges.length === 10 ? ", the first 10" : ""})</summary>
      <table className="charges" data-testid={`charges-${e.id}`}>
        <thead>
          <tr>
            <th>When</th>
            <th>Units</th>
            <th>Amount</th>
            <th>How</th>
            <th>Status</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {e.charges.map((c) => (
            <ChargeLine key={c.id} charge={c} disputeBond={disputeBond} now={now} />
          ))}
        </tbody>
      </table>
    </details>
  );
}

function ChargeLine({ charge: c, disputeBond, now }: { charge: ChargeRow; disputeBond: bigint | undefined; now: number }) {
  const config = currentConfig();
  const wagmiConfig = useConfig();
  const tx = useApproveThen();
  const [disputed, setDisputed] = useState(false);
  const key = c.chargeId !== "0" ? c.chargeId : c.batchId != null ? `b${c.batchId}-${c.batchIndex}` : c.id;
  const disputable = c.attested && c.status === "pending" && now <= Number(c.disputableUntil) && !disputed;

  const dispute = async () => {
    const bond = disputeBond ?? 0n;
    if (c.chargeId !== "0") {
      const r = await tx.run(bond, { address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "disputeCharge", args: [BigInt(c.chargeId)] });
      if (r) setDisputed(true);
      return;
    }
    if (c.batchId == null || c.batchIndex == null) return;
    // A batch entry is disputed with the batch's applied words, as its UsageBatchCharged event published them.
    const receipt = await getTransactionReceipt(wagmiConfig, { hash: c.txHash as Hex });
    const logs = parseEventLogs({ abi: marketplaceAbi, logs: receipt.logs, eventName: "UsageBatchCharged" });
    const log = logs.find((l) => l.args.batchId === BigInt(c.batchId!));
    if (!log) return;
    const r = await tx.run(bond, {
      address: config.contracts.marketplace,
      abi: disputeBatchEntryAbi,
      functionName: "disputeBatchEntry",
      args: [BigInt(c.batchId), log.args.applied, BigInt(c.batchIndex)],
    });
    if (r) setDisputed(true);
  };

  let status = c.status;
  if (disputed && c.status === "pending") status = "disputed";
  let detail = "";
  if (c.status === "pending") detail = now <= Number(c.disputableUntil) ? `disputable until ${formatTime(c.disputableUntil)}` : "payable: its dispute window has passed";
  if (c.dispute && !c.dispute.resolved && c.dispute.resolveBy) detail = `the arbiter decides by ${formatTime(c.dispute.resolveBy)}, else the charge stands`;
  if (c.dispute?.resolved) detail = c.dispute.paidToProvider ? (c.dispute.byDefault ? "stood by default; bond to the provider" : "decided for the provider") : "refunded to you; bond returned";

  return (
    <tr data-testid={`charge-${key}`}>
      <td>{formatTime(c.timestamp)}</td>
      <td>{BigInt(c.units).toLocaleString("en-US")}</td>
      <td>{formatFtns(c.amount, 6)}</td>
      <td>{c.attested ? (c.batchId != null ? `committee (batch ${c.batchId})` : "committee") : "your receipt"}</td>
      <td>
        <span className={`status ${status}`}>{status}</span> <span className="muted small">{detail}</span>
      </td>
      <td>
        {disputable && (
          <>
            <button type="button" data-testid={`dispute-${key}`} disabled={tx.status === "pending"} onClick={() => void dispute()}>
              Dispute
            </button>{" "}
            <span className="muted small">
              bond {disputeBond !== undefined ? formatFtns(disputeBond) : "…"}: returned if you win, paid to the provider if the charge stands
            </span>
          </>
        )}
        <TxLine tx={tx} testId={`dispute-status-${key}`} done="Disputed: the charge is held for arbitration." />
      </td>
    </tr>
  );
}
