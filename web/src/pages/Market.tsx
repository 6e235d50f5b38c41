/**
 * The market (#/): every listing from the API with its decoded metadata, the orchestrator's measured latency and
 * success for the listings it serves, a search by name and filters by category and maximum price. Sets
 * `document.documentElement.dataset.ready = "1"` once the first data (or the empty state) is on screen: the web
 * benchmark measures time to it.
 */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/Loading";
import { currentConfig } from "../lib/config";
import { formatFtns, formatRating, formatUsd, listingStatus, parseFtns, shortAddress, unitName } from "../lib/format";
import { useGql } from "../lib/graphql";
import { fetchOfferedModels, MARKET_QUERY, type ListingRow } from "../lib/queries";
import { Link } from "../router";

export default function MarketPage() {
  const config = currentConfig();
  const listings = useGql<{ listings: { items: ListingRow[] } }>("market", MARKET_QUERY, undefined, { refetchInterval: 15_000 });
  const models = useQuery({
    queryKey: ["orchestrator-models"],
    queryFn: ({ signal }) => fetchOfferedModels(config.orchestratorUrl || "/v1", signal),
    refetchInterval: 15_000,
    retry: 0,
  });
  const [search, setSearch] = useState("");
  const [category, setCategory] = useState("");
  const [maxPrice, setMaxPrice] = useState("");
  const [activeOnly, setActiveOnly] = useState(true);

  const items = listings.data?.listings.items;
  const categories = useMemo(() => [...new Set((items ?? []).map((l) => l.categoryName ?? `category ${l.category}`))].sort(), [items]);
  const maxWei = maxPrice.trim() ? parseFtns(maxPrice) : undefined;
  const offered = useMemo(() => new Map((models.data ?? []).map((m) => [m.listingId, m])), [models.data]);

  const shown = useMemo(() => {
    const q = search.trim().toLowerCase();
    return (items ?? []).filter((l) => {
      if (activeOnly && l.status !== 1) return false;
      if (q && !`${l.name ?? ""} ${l.vendor ?? ""} listing ${l.id}`.toLowerCase().includes(q)) return false;
      if (category && (l.categoryName ?? `category ${l.category}`) !== category) return false;
      if (maxWei !== undefined && BigInt(l.pricePerUnit) > maxWei) return false;
      return true;
    });
  }, [items, search, category, maxWei, activeOnly]);

  useEffect(() => {
    if (items) document.documentElement.dataset.ready = "1";
  }, [items]);

  return (
    <section>
      <h1>Market</h1>
      <p className="muted">
        Rent a model with FTNS: open an escrow on a listing, chat through PRSM's orchestrator, and pay only for the usage the committee attests.
      </p>
      <div className="filters" role="search">
        <label>
          Search
          <input type="search" placeholder="Model name or vendor" value={search} onChange={(e) => setSearch(e.target.value)} aria-label="Search by name" />
        </label>
        <label>
          Category
          <select value={category} onChange={(e) => setCategory(e.target.value)} aria-label="Category">
            <option value="">All categories</option>
            {categories.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label>
          Max price per unit (FTNS)
          <input inputMode="decimal" placeholder="any" value={maxPrice} onChange={(e) => setMaxPrice(e.target.value)} aria-label="Maximum price per unit" />
        </label>
        <label className="inline">
          <input type="checkbox" checked={activeOnly} onChange={(e) => setActiveOnly(e.target.checked)} /> Active only
        </label>
      </div>
      {maxPrice.trim() && maxWei === undefined && <ErrorMessage error="The maximum price must be a number of FTNS, like 0.001." />}
      {listings.error && <ErrorMessage error={listings.error} retry={() => void listings.refetch()} />}
      {listings.isPending && <Loading label="Loading listings…" />}
      {items && (
        <>
          <p className="muted" data-testid="listing-count">
            {shown.length} of {items.length} listings
            {models.error ? " · live latency unavailable (the orchestrator did not answer)" : ""}
          </p>
          {shown.length === 0 ? (
            <p className="empty">{items.length === 0 ? "No models are listed yet." : "No listing matches these filters."}</p>
          ) : (
            <div className="table-wrap">
              <table className="listings">
                <thead>
                  <tr>
                    <th>Model</th>
                    <th>Category</th>
                    <th>Price</th>
                    <th>Provider</th>
                    <th>Bond</th>
                    <th>Rating</th>
                    <th>Measured</th>
                    <th>Status</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((l) => {
                    const m = offered.get(l.id);
                    return (
                      <tr key={l.id} data-listing-id={l.id}>
                        <td>
                          <Link to={`/listing/${l.id}`} className="model-name">
                            {l.name ?? `Listing #${l.id}`}
                          </Link>
                          <div className="muted small">
                            {l.vendor ?? (l.metadataError ? "metadata unreadable" : "")} · #{l.id}
                          </div>
                        </td>
                        <td>{l.categoryName ?? `category ${l.category}`}</td>
                        <td>
                          {formatFtns(l.pricePerUnit, 8)} / {unitName(l.unit)}
                          <div className="muted small">{formatUsd(BigInt(l.pricePerUnit) * 1000n, config.usdPerFtns) && `${formatUsd(BigInt(l.pricePerUnit) * 1000n, config.usdPerFtns)} per 1,000`}</div>
                        </td>
                        <td title={l.provider}>{shortAddress(l.provider)}</td>
                        <td>{formatFtns(l.bond, 0)}</td>
                        <td>{formatRating(l.averageRating, l.ratingCount)}</td>
                        <td>
                          {m ? (
                            <>
                              {m.latencyMs != null ? `${m.latencyMs} ms` : "no calls yet"}
                              {m.successRate !== undefined && <div className="muted small">{Math.round(m.successRate * 100)}% success</div>}
                            </>
                          ) : (
                            <span className="muted">not served</span>
                          )}
                        </td>
                        <td>
                          <span className={`status s${l.status}`}>{listingStatus(l.status)}</span>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
