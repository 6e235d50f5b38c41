/** #/chat: the escrows this browser holds session keys for, and the connected account's open escrows. */
import { useConnection } from "wagmi";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatFtns, formatTime } from "../lib/format";
import { useGql } from "../lib/graphql";
import { ESCROW_FIELDS, type EscrowRow } from "../lib/queries";
import { listSessions } from "../lib/session";
import { Link } from "../router";

const QUERY = `query MyEscrows($renter: String!) { escrows(where: { renter: $renter, status: "open" }, orderBy: openedAt, orderDirection: desc, limit: 50) { items { ${ESCROW_FIELDS} listing { name } } } }`;

export default function ChatIndexPage() {
  const connection = useConnection();
  const sessions = listSessions();
  const address = connection.address?.toLowerCase();
  const q = useGql<{ escrows: { items: (EscrowRow & { listing: { name: string | null } | null })[] } }>("my-escrows", QUERY, { renter: address ?? "" }, { enabled: Boolean(address) });
  const withKey = new Set(sessions.map((s) => s.escrowId));
  return (
    <section>
      <h1>Chat</h1>
      <p className="muted">
        Open an escrow from a listing on the <Link to="/">market</Link> to chat with its model.
      </p>
      <h2>Escrows with a session key in this browser</h2>
      {sessions.length === 0 ? (
        <p className="muted">None yet.</p>
      ) : (
        <ul>
          {sessions.map((s) => (
            <li key={s.escrowId}>
              <Link to={`/chat/${s.escrowId}`}>Escrow #{s.escrowId}</Link> on listing #{s.listingId} {s.revoked ? "(key revoked)" : ""}
            </li>
          ))}
        </ul>
      )}
      {address && (
        <>
          <h2>Your open escrows</h2>
          {q.error && <ErrorMessage error={q.error} />}
          {q.data && q.data.escrows.items.length === 0 && <p className="muted">No open escrows.</p>}
          <ul>
            {q.data?.escrows.items.map((e) => (
              <li key={e.id}>
                <Link to={`/chat/${e.id}`}>
                  Escrow #{e.id}: {e.listing?.name ?? `listing #${e.listingId}`}
                </Link>{" "}
                · {formatFtns(e.remaining)} left · expires {formatTime(e.expiresAt)} {withKey.has(e.id) ? "" : "· no session key here"}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
