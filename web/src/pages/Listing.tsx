/** One listing (#/listing/<id>): details, price history, ratings, recent charges and the Rent form. */
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/Loading";
import { RentForm } from "../components/RentForm";
import { currentConfig } from "../lib/config";
import { formatFtns, formatRating, formatTime, formatUsd, listingStatus, shortAddress, unitName } from "../lib/format";
import { useGql } from "../lib/graphql";
import { CHARGE_FIELDS, LISTING_FIELDS, type ChargeRow, type ListingRow } from "../lib/queries";
import { Link } from "../router";

const QUERY = `query Listing($id: BigInt!) {
  listing(id: $id) {
    ${LISTING_FIELDS} metadataUri royaltyBps royaltyRecipient createdAt metadata
    priceHistory(limit: 20) { id oldPrice newPrice timestamp }
    ratings(limit: 20) { escrowId renter score timestamp }
  }
  charges(where: { listingId: $id }, orderBy: timestamp, orderDirection: desc, limit: 10) { items { ${CHARGE_FIELDS} } }
}`;

interface ListingDetail extends ListingRow {
  metadataUri: string;
  royaltyBps: number;
  royaltyRecipient: string;
  createdAt: string;
  metadata: Record<string, unknown> | null;
  priceHistory: { id: string; oldPrice: string; newPrice: string; timestamp: string }[];
  ratings: { escrowId: string; renter: string; score: number; timestamp: string }[];
}

export default function ListingPage({ id }: { id: string }) {
  const config = currentConfig();
  const valid = /^\d{1,30}$/.test(id);
  const q = useGql<{ listing: ListingDetail | null; charges: { items: ChargeRow[] } }>("listing", QUERY, { id }, { enabled: valid, refetchInterval: 10_000 });
  if (!valid) return <ErrorMessage error={`"${id}" is not a listing number.`} />;
  if (q.isPending) return <Loading label="Loading the listing…" />;
  if (q.error) return <ErrorMessage error={q.error} retry={() => void q.refetch()} />;
  const l = q.data.listing;
  if (!l) return <ErrorMessage error={`Listing ${id} does not exist (or is not indexed yet).`} />;
  return (
    <section>
      <p>
        <Link to="/">← Market</Link>
      </p>
      <h1>{l.name ?? `Listing #${l.id}`}</h1>
      <p className="muted">
        {l.vendor ?? "unknown vendor"} · {l.categoryName ?? `category ${l.category}`} · listing #{l.id} · <span className={`status s${l.status}`}>{listingStatus(l.status)}</span>
      </p>
      {l.description && <p>{l.description}</p>}
      {l.metadataError && <p className="muted small">Its metadata could not be read ({l.metadataError}).</p>}
      <div className="grid">
        <div className="card">
          <h2>Details</h2>
          <dl className="facts">
            <dt>Price</dt>
            <dd>
              {formatFtns(l.pricePerUnit, 10)} per {unitName(l.unit)} {formatUsd(BigInt(l.pricePerUnit) * 1000n, config.usdPerFtns) && <span className="muted">({formatUsd(BigInt(l.pricePerUnit) * 1000n, config.usdPerFtns)} per 1,000)</span>}
            </dd>
            <dt>Provider</dt>
            <dd title={l.provider}>{l.provider}</dd>
            <dt>Bond</dt>
            <dd>{formatFtns(l.bond)}</dd>
            <dt>Rating</dt>
            <dd>{formatRating(l.averageRating, l.ratingCount)}</dd>
            <dt>Escrows</dt>
            <dd>{l.escrowCount}</dd>
            <dt>Volume</dt>
            <dd>{formatFtns(l.volume)}</dd>
            <dt>Royalty</dt>
            <dd>{l.royaltyBps ? `${l.royaltyBps / 100}% to ${shortAddress(l.royaltyRecipient)}` : "none"}</dd>
            <dt>Listed</dt>
            <dd>{formatTime(l.createdAt)}</dd>
          </dl>
        </div>
        {l.status === 1 ? <RentForm listing={l} /> : <div className="card">This listing is {listingStatus(l.status)} and cannot be rented now.</div>}
      </div>
      <div className="grid" style={{ marginTop: 16 }}>
        <div className="card">
          <h2>Price history</h2>
          {l.priceHistory.length === 0 ? (
            <p className="muted">The price has not changed since listing.</p>
          ) : (
            <ul>
              {l.priceHistory.map((p) => (
                <li key={p.id}>
                  {formatTime(p.timestamp)}: {formatFtns(p.oldPrice, 10)} → {formatFtns(p.newPrice, 10)}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div className="card">
          <h2>Ratings</h2>
          {l.ratings.length === 0 ? (
            <p className="muted">No ratings yet.</p>
          ) : (
            <ul>
              {l.ratings.map((r) => (
                <li key={r.escrowId}>
                  {"★".repeat(r.score)}
                  {"☆".repeat(5 - r.score)} by {shortAddress(r.renter)} (escrow {r.escrowId}, {formatTime(r.timestamp)})
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <div className="card" style={{ marginTop: 16 }}>
        <h2>Recent charges</h2>
        {q.data.charges.items.length === 0 ? (
          <p className="muted">No charges yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>When</th>
                <th>Escrow</th>
                <th>Units</th>
                <th>Amount</th>
                <th>Kind</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {q.data.charges.items.map((c) => (
                <tr key={c.id}>
                  <td>{formatTime(c.timestamp)}</td>
                  <td>{c.escrowId}</td>
                  <td>{c.units}</td>
                  <td>{formatFtns(c.amount, 6)}</td>
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
