/**
 * Chat on an escrow (#/chat/<escrowId>): each message goes through the orchestrator (/v1/chat/completions, streamed)
 * with the repository's RenterClient, signed by this browser's session key for the escrow (no wallet pop-up per
 * message). The answer is shown as it streams; then its checked usage and charge; the escrow's charges appear as the
 * committee settles them (polled from the API). An exhausted escrow (402) is a sentence, not an exception. The wallet
 * is needed only to revoke the session key, close the escrow after its expiry, and rate it.
 */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { useConfig, useConnection } from "wagmi";
import type { RenterClient } from "../../../workers/renter/client";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/Loading";
import { marketplaceAbi } from "../lib/abi";
import { currentConfig } from "../lib/config";
import { explain, MESSAGES, ServiceError } from "../lib/errors";
import { formatFtns, formatRelative, formatTime, formatUsd, shortAddress, unitName } from "../lib/format";
import { subscribe, useGql } from "../lib/graphql";
import { CHARGE_FIELDS, ESCROW_FIELDS, type ChargeRow, type EscrowRow } from "../lib/queries";
import {
  authorizeNewKey,
  chainNow,
  createRenter,
  loadMessages,
  loadSession,
  persistReceipt,
  publicClient,
  readEscrow,
  reconcileChainUsage,
  saveMessages,
  sessionKeyState,
  updateSession,
  type ChatMessage,
  type StoredSession,
} from "../lib/session";
import { useTx } from "../lib/tx";
import { Link } from "../router";

const QUERY = `query Escrow($id: BigInt!) {
  escrow(id: $id) { ${ESCROW_FIELDS} listing { id name vendor unit categoryName } rating { score } }
  charges(where: { escrowId: $id }, orderBy: timestamp, orderDirection: desc, limit: 50) { items { ${CHARGE_FIELDS} } }
}`;

interface EscrowDetail extends EscrowRow {
  listing: { id: string; name: string | null; vendor: string | null; unit: number; categoryName: string | null } | null;
  rating: { score: number } | null;
}

/** The orchestrator's/gateway's error body `{ error: { code, message } }` as a ServiceError. */
function serviceError(status: number, body: string | undefined): ServiceError {
  let code = "upstream-error";
  let message = (body ?? "").slice(0, 300) || `status ${status}`;
  try {
    const json = JSON.parse(body ?? "") as { error?: { code?: string; message?: string } };
    code = json.error?.code ?? code;
    message = json.error?.message ?? message;
  } catch {
    // not JSON
  }
  return new ServiceError(message, status, code);
}

export default function ChatPage({ escrowId }: { escrowId: string }) {
  const config = currentConfig();
  const wagmi = useConfig();
  const connection = useConnection();
  const valid = /^\d{1,30}$/.test(escrowId);
  const id = valid ? BigInt(escrowId) : 0n;
  const [session, setSession] = useState<StoredSession | undefined>(() => (valid ? loadSession(escrowId) : undefined));
  const [messages, setMessages] = useState<ChatMessage[]>(() => (valid ? loadMessages(escrowId) : []));
  const [draft, setDraft] = useState("");
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string>();
  const renterRef = useRef<Promise<RenterClient> | undefined>(undefined);
  const listRef = useRef<HTMLDivElement>(null);
  const tx = useTx();
  const [score, setScore] = useState(5);

  const q = useGql<{ escrow: EscrowDetail | null; charges: { items: ChargeRow[] } }>("escrow", QUERY, { id: escrowId }, { enabled: valid, refetchInterval: 2_000 });
  const chain = useQuery({
    queryKey: ["escrow-chain", escrowId, session?.address ?? ""],
    enabled: valid,
    refetchInterval: 3_000,
    queryFn: async () => {
      const client = publicClient(wagmi);
      const [escrow, now, key] = await Promise.all([
        readEscrow(client, id),
        chainNow(client),
        session ? sessionKeyState(wagmi, id, session.address).catch(() => undefined) : Promise.resolve(undefined),
      ]);
      return { escrow, now, key };
    },
  });

  useEffect(() => {
    listRef.current?.scrollTo({ top: listRef.current.scrollHeight });
  }, [messages]);

  // Each newly indexed block refreshes the escrow and its charges (the 2 s polling stays as the fallback).
  const refetchEscrow = q.refetch;
  useEffect(() => {
    if (!valid) return;
    return subscribe<{ newBlock: { number: string } }>("subscription { newBlock { number timestamp } }", {}, () => void refetchEscrow());
  }, [valid, refetchEscrow]);

  if (!valid) return <ErrorMessage error={`"${escrowId}" is not an escrow number.`} />;

  const escrow = q.data?.escrow;
  const onChain = chain.data?.escrow;
  const unit = unitName(escrow?.listing?.unit ?? 0);
  const price = onChain?.pricePerUnit ?? (escrow ? BigInt(escrow.pricePerUnit) : 0n);
  const open = onChain ? onChain.status === 1 : escrow?.status === "open";
  const isRenter = Boolean(connection.address && onChain && connection.address.toLowerCase() === onChain.renter.toLowerCase());
  const revoked = Boolean(session?.revoked || (chain.data?.key && chain.data.key.revokedAt > 0));
  const expired = onChain && chain.data ? chain.data.now >= onChain.expiresAt : false;

  const renter = () => {
    if (!session) throw new Error("This browser holds no session key for this escrow.");
    renterRef.current ??= createRenter(wagmi, session).catch((e) => {
      renterRef.current = undefined;
      throw e;
    });
    return renterRef.current;
  };

  const update = (next: ChatMessage[]) => {
    setMessages(next);
    saveMessages(escrowId, next);
  };

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const text = draft.trim();
    if (!text || busy || !session) return;
    setBusy(true);
    setNotice(undefined);
    const history = messages.filter((m) => !m.error && m.content).map((m) => ({ role: m.role, content: m.content }));
    const withUser: ChatMessage[] = [...messages, { role: "user", content: text }];
    let answer: ChatMessage = { role: "assistant", content: "" };
    update([...withUser, answer]);
    setDraft("");
    const show = (m: ChatMessage) => {
      answer = m;
      setMessages([...withUser, m]);
    };
    try {
      const client = await renter();
      if (!(await reconcileChainUsage(wagmi, client, id))) {
        throw new Error("The chain shows more usage on this escrow than this browser acknowledged (beyond its allowance), so it is no longer used. Open a new escrow.");
      }
      const result = await client.stream(
        { model: `listing-${session.listingId}`, messages: [...history, { role: "user", content: text }], stream: true, stream_options: { include_usage: true } },
        { escrowIds: [id], listingId: BigInt(session.listingId) },
        async (_raw, json) => {
          if (json?.error) show({ ...answer, error: explain(serviceError(502, JSON.stringify(json))) });
          for (const c of (json?.choices ?? []) as { delta?: { content?: unknown } }[]) {
            if (typeof c.delta?.content === "string") show({ ...answer, content: answer.content + c.delta.content });
          }
          return true;
        },
      );
      if (result.status !== 200) throw serviceError(result.status, result.body);
      if (result.report && result.escrowId !== undefined) {
        persistReceipt(client, result.escrowId);
        const units = result.units ?? 0n;
        show({ ...answer, units: units.toString(), cost: (units * price).toString() });
      } else {
        show({ ...answer, error: `The answer ended without a usage report this browser could check (${result.incomplete ?? "no report"}); nothing was acknowledged for it.` });
      }
    } catch (error) {
      show({ ...answer, error: explain(error) });
    } finally {
      setMessages((current) => {
        saveMessages(escrowId, current);
        return current;
      });
      setBusy(false);
      void q.refetch();
      void chain.refetch();
    }
  };

  const revoke = async () => {
    if (!session) return;
    const receipt = await tx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "revokeSessionKey", args: [id, session.address] });
    if (receipt) {
      updateSession(escrowId, (s) => (s.revoked = true));
      setSession(loadSession(escrowId));
      setNotice("The session key is revoked: providers and committee nodes stop accepting its signatures. Receipts it already signed stay chargeable.");
    }
  };

  const authorize = async () => {
    if (!onChain) return;
    setBusy(true);
    try {
      await authorizeNewKey(wagmi, id, onChain.listingId);
      renterRef.current = undefined;
      setSession(loadSession(escrowId));
      setNotice("This browser has a new session key for the escrow.");
    } catch (error) {
      setNotice(explain(error));
    } finally {
      setBusy(false);
    }
  };

  const close = () => tx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "closeEscrow", args: [id] });
  const rate = () => tx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "rate", args: [id, score] });

  const charges = q.data?.charges.items ?? [];
  const chargedTotal = charges.reduce((sum, c) => sum + BigInt(c.amount), 0n);
  const exhausted = onChain ? onChain.spendCap - onChain.charged < onChain.pricePerUnit : false;

  return (
    <section className="chat">
      <p>
        <Link to="/chat">← Your escrows</Link>
      </p>
      <h1>
        Chat · {escrow?.listing?.name ?? (session ? `listing #${session.listingId}` : "escrow")} <span className="muted small">escrow #{escrowId}</span>
      </h1>
      {q.error && <ErrorMessage error={q.error} retry={() => void q.refetch()} />}
      {chain.error && <ErrorMessage error={chain.error} />}
      {q.isPending && !onChain && <Loading label="Loading the escrow…" />}
      {(onChain || escrow) && (
        <div className="card">
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <span className={`status ${open ? "open" : ""}`}>{open ? "open" : "closed"}</span>
              {onChain && chain.data && open && ` · expires ${formatRelative(onChain.expiresAt, Number(chain.data.now))} (${formatTime(onChain.expiresAt)})`}
            </dd>
            <dt>Spent</dt>
            <dd data-testid="escrow-spent">
              {formatFtns(onChain?.charged ?? escrow?.charged ?? 0n, 6)} of {formatFtns(onChain?.spendCap ?? escrow?.spendCap ?? 0n, 4)} cap · deposit {formatFtns(onChain?.deposit ?? escrow?.deposit ?? 0n, 4)}{" "}
              {formatUsd(onChain?.charged ?? 0n, config.usdPerFtns)}
            </dd>
            <dt>Price</dt>
            <dd>
              {formatFtns(price, 10)} per {unit}
            </dd>
            <dt>Renter</dt>
            <dd>{shortAddress(onChain?.renter ?? escrow?.renter)}</dd>
            <dt>Session key</dt>
            <dd data-testid="session-key">
              {session ? (
                <>
                  {shortAddress(session.address)} {revoked ? <strong>(revoked)</strong> : "(this browser; signs only for this escrow, up to its spend cap)"}
                </>
              ) : (
                "none in this browser"
              )}
            </dd>
          </dl>
          <div className="row" style={{ marginTop: 10 }}>
            {session && !revoked && open && isRenter && (
              <button type="button" className="danger" onClick={() => void revoke()} disabled={tx.status === "pending"}>
                Revoke session key
              </button>
            )}
            {!session && open && isRenter && (
              <button type="button" onClick={() => void authorize()} disabled={busy}>
                Authorize a session key for this browser
              </button>
            )}
            {open && isRenter && (
              <button type="button" className="secondary" onClick={() => void close()} disabled={tx.status === "pending"} title={expired ? "" : "Possible after the expiry plus the settlement grace"}>
                Close escrow
              </button>
            )}
            {!open && isRenter && !onChain?.rated && !escrow?.rating && (
              <span className="row">
                <label className="inline">
                  Rating{" "}
                  <select value={score} onChange={(e) => setScore(Number(e.target.value))} aria-label="Rating">
                    {[5, 4, 3, 2, 1].map((s) => (
                      <option key={s} value={s}>
                        {"★".repeat(s)}
                      </option>
                    ))}
                  </select>
                </label>
                <button type="button" onClick={() => void rate()} disabled={tx.status === "pending"}>
                  Rate
                </button>
              </span>
            )}
            {(onChain?.rated || escrow?.rating) && <span className="muted">Rated {escrow?.rating ? "★".repeat(escrow.rating.score) : ""}</span>}
          </div>
          {tx.status === "pending" && <p className="loading">{tx.phase === "wallet" ? "Confirm in your wallet…" : "Waiting for the transaction…"}</p>}
          {tx.status === "failed" && <ErrorMessage error={tx.error} />}
          {tx.status === "confirmed" && <p className="ok">Done.</p>}
          {notice && <p className="notice">{notice}</p>}
        </div>
      )}
      {!session && onChain && <p className="notice">This browser holds no session key for escrow {escrowId}, so it cannot chat on it{isRenter ? "; authorize one above (one transaction)" : ""}.</p>}
      {open && exhausted && <ErrorMessage error={MESSAGES.exhausted} />}
      <div className="messages" ref={listRef} aria-live="polite" data-testid="messages">
        {messages.length === 0 && <p className="muted">Ask the model something. Each message is paid from this escrow.</p>}
        {messages.map((m, i) => (
          <div key={i} className={`msg ${m.role}`} data-role={m.role}>
            {m.content || (m.role === "assistant" && !m.error && busy && i === messages.length - 1 ? "…" : "")}
            {m.error && (
              <div className="error small" role="alert">
                {m.error}
              </div>
            )}
            {m.units !== undefined && (
              <div className="meta" data-testid="usage">
                {m.units} {unit}s · {formatFtns(m.cost ?? "0", 8)} {formatUsd(m.cost ?? "0", config.usdPerFtns)} · checked and acknowledged
              </div>
            )}
          </div>
        ))}
      </div>
      <form className="composer" onSubmit={(e) => void send(e)}>
        <textarea
          aria-label="Message"
          value={draft}
          placeholder={session ? (open ? "Type a message (Enter sends, Shift+Enter for a new line)" : "This escrow is closed.") : "No session key in this browser."}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
          disabled={!session || !open || revoked}
        />
        <button type="submit" disabled={busy || !session || !open || revoked || !draft.trim()}>
          {busy ? "Answering…" : "Send"}
        </button>
      </form>
      <div className="card">
        <h2>Charges settled on chain</h2>
        <p className="muted small">The committee attests usage and settles it in batches (locally within seconds; on Polygon when the settlement policy says). Total: {formatFtns(chargedTotal, 8)}.</p>
        {charges.length === 0 ? (
          <p className="muted" data-testid="no-charges">
            No charges settled yet.
          </p>
        ) : (
          <table data-testid="charges">
            <thead>
              <tr>
                <th>When</th>
                <th>Units</th>
                <th>Cumulative</th>
                <th>Amount</th>
                <th>Kind</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {charges.map((c) => (
                <tr key={c.id}>
                  <td>{formatTime(c.timestamp)}</td>
                  <td>{c.units}</td>
                  <td>{c.cumulativeUnits}</td>
                  <td>{formatFtns(c.amount, 8)}</td>
                  <td>{c.attested ? "attested" : "receipt"}</td>
                  <td>{c.status}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
