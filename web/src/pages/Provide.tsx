/**
 * #/provide: list a model (metadata built here as a data: URI, price per unit, bond approved then pulled by `list`)
 * and manage the connected provider's listings: change price, pause / resume, delist, add bond, withdraw the bond
 * once the unbonding rule allows it, end open escrows; and withdraw payouts.
 */
import { useState } from "react";
import { formatUnits, isAddress, parseEventLogs } from "viem";
import { useReadContract } from "wagmi";
import { ErrorMessage } from "../components/ErrorMessage";
import { Loading } from "../components/Loading";
import { marketplaceAbi } from "../lib/abi";
import { currentConfig } from "../lib/config";
import { useGql } from "../lib/graphql";
import { formatFtns, formatRelative, formatTime, formatUsd, listingStatus, parseFtns, shortAddress, unitName } from "../lib/format";
import { NeedsWallet, useNextBlockTx, PayoutsPanel, TxLine, seconds, useApproveThen, useChainNow, useMe } from "./account/shared";
import { MAX_METADATA_BYTES, UNITS, encodeMetadata, metadataDocument, validateMetadata } from "./provide/metadata";

const FALLBACK_CATEGORIES = ["language", "image", "code", "speech", "embedding", "other"];

interface MyListing {
  id: string;
  name: string | null;
  vendor: string | null;
  status: number;
  pricePerUnit: string;
  bond: string;
  unbondingAt: string;
  escrowCount: number;
  unit: number;
  categoryName: string | null;
  volume: string;
  ratingCount: number;
  averageRating: number | null;
  metadataError: string | null;
}

const MY_LISTINGS = /* GraphQL */ `
  query ProvideListings($provider: String!) {
    listings(where: { provider: $provider }, orderBy: id, orderDirection: desc, limit: 100) {
      items { id name vendor status pricePerUnit bond unbondingAt escrowCount unit categoryName volume ratingCount averageRating metadataError }
    }
  }
`;

const CATEGORIES = /* GraphQL */ `query ProvideCategories { categories(limit: 256) { items { id name } } }`;

const OPEN_ESCROWS = /* GraphQL */ `
  query ProvideOpenEscrows($listingId: BigInt!) {
    escrows(where: { listingId: $listingId, status: "open" }, orderBy: openedAt, orderDirection: asc, limit: 50) {
      items { id renter remaining expiresAt }
    }
  }
`;

export default function ProvidePage() {
  const { lower } = useMe();
  return (
    <div className="page provide" data-testid="provide-page">
      <h1>Provide a model</h1>
      <p className="muted">
        List a model you serve behind a provider gateway (<code>npm run gateway</code>): renters open escrows on the listing, your gateway meters their usage
        and the committee settles it. Your bond is what a lost dispute slashes; it comes back after you delist and the unbonding delay has passed.
      </p>
      <NeedsWallet what="list models and manage your listings">
        <ListForm />
        {lower && <MyListings provider={lower} />}
        <PayoutsPanel title="Earnings" />
      </NeedsWallet>
    </div>
  );
}

// ------------------------------------------------------------------------------------------------ list a model

function ListForm() {
  const config = currentConfig();
  const { address } = useMe();
  const categories = useGql<{ categories: { items: { id: number; name: string }[] } }>("categories", CATEGORIES, undefined, { staleTime: 60_000 });
  const minBond = useReadContract({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "minProviderBond" });
  const maxRoyalty = useReadContract({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "MAX_ROYALTY_BPS", query: { staleTime: Infinity } });
  const tx = useApproveThen();
  const [form, setForm] = useState({ name: "", vendor: "", description: "", category: 0, unit: 0, model: "", endpoint: "", price: "", bond: "", royaltyRecipient: "", royaltyBps: "0" });
  const [listed, setListed] = useState<string | undefined>();
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: k === "category" || k === "unit" ? Number(e.target.value) : e.target.value }));

  const cats = categories.data?.categories.items.length ? categories.data.categories.items : FALLBACK_CATEGORIES.map((name, id) => ({ id, name }));
  const categoryName = cats.find((c) => c.id === form.category)?.name ?? "other";
  const input = { name: form.name, vendor: form.vendor, description: form.description, category: categoryName, unit: form.unit, model: form.model, endpoint: form.endpoint };
  const doc = metadataDocument(input);
  const encoded = encodeMetadata(doc);
  const price = parseFtns(form.price);
  const bondText = form.bond.trim() || (minBond.data !== undefined ? formatUnits(minBond.data, 18) : "");
  const bond = parseFtns(bondText);
  const royaltyBps = /^\d+$/.test(form.royaltyBps.trim() || "0") ? Number(form.royaltyBps.trim() || "0") : NaN;
  const royaltyRecipient = form.royaltyRecipient.trim();

  let problem = validateMetadata(input);
  if (!problem && encoded.bytes > MAX_METADATA_BYTES) problem = `The metadata is ${encoded.bytes} bytes; the indexer decodes at most ${MAX_METADATA_BYTES}.`;
  if (!problem && (price === undefined || price === 0n)) problem = "Enter a price per unit above zero (in FTNS, e.g. 0.0001).";
  if (!problem && price !== undefined && price >= 1n << 96n) problem = "That price is too large.";
  if (!problem && bond === undefined) problem = "Enter the bond in FTNS.";
  if (!problem && bond !== undefined && minBond.data !== undefined && bond < minBond.data) problem = `The bond must be at least ${formatFtns(minBond.data)} (the marketplace's minimum).`;
  if (!problem && (!Number.isInteger(royaltyBps) || (maxRoyalty.data !== undefined && royaltyBps > maxRoyalty.data))) problem = `The royalty is 0 to ${maxRoyalty.data ?? "?"} basis points.`;
  if (!problem && royaltyBps > 0 && !isAddress(royaltyRecipient)) problem = "A royalty needs a recipient address.";

  const submit = async () => {
    if (problem || price === undefined || bond === undefined) return;
    setListed(undefined);
    const receipt = await tx.run(bond, {
      address: config.contracts.marketplace,
      abi: marketplaceAbi,
      functionName: "list",
      args: [
        encoded.contentHash,
        encoded.uri,
        form.category,
        form.unit,
        price,
        (royaltyBps > 0 ? royaltyRecipient : "0x0000000000000000000000000000000000000000") as `0x${string}`,
        royaltyBps,
        bond,
      ],
    });
    if (!receipt) return;
    const logs = parseEventLogs({ abi: marketplaceAbi, logs: receipt.logs, eventName: "Listed" });
    const id = logs[0]?.args.listingId;
    if (id !== undefined) setListed(id.toString());
  };

  return (
    <section className="card" data-testid="list-form">
      <h2>List a model</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <div className="grid">
          <label>
            Name
            <input data-testid="list-name" value={form.name} onChange={set("name")} placeholder="Llama 3 8B Instruct" maxLength={120} required />
          </label>
          <label>
            Vendor
            <input data-testid="list-vendor" value={form.vendor} onChange={set("vendor")} placeholder="Meta" />
          </label>
          <label>
            Category
            <select data-testid="list-category" value={form.category} onChange={set("category")}>
              {cats.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Billing unit
            <select data-testid="list-unit" value={form.unit} onChange={set("unit")}>
              {UNITS.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Model id (what your gateway's upstream serves)
            <input data-testid="list-model" value={form.model} onChange={set("model")} placeholder="llama-3-8b-instruct" />
          </label>
          <label>
            Gateway URL
            <input data-testid="list-endpoint" value={form.endpoint} onChange={set("endpoint")} placeholder="https://gateway.example.com" type="url" />
          </label>
          <label>
            Price per {unitName(form.unit)} (FTNS)
            <input data-testid="list-price" value={form.price} onChange={set("price")} placeholder="0.0001" inputMode="decimal" required />
            {price !== undefined && price > 0n && (
              <span className="muted small">
                {formatFtns(price * 1000n)} per 1,000 {unitName(form.unit)}s {formatUsd(price * 1000n, config.usdPerFtns)}
              </span>
            )}
          </label>
          <label>
            Bond (FTNS)
            <input data-testid="list-bond" value={form.bond} onChange={set("bond")} placeholder={bondText || "100"} inputMode="decimal" />
            <span className="muted small">at least {minBond.data !== undefined ? formatFtns(minBond.data) : "…"}; approved to the marketplace first if needed</span>
          </label>
        </div>
        <label>
          Description
          <textarea data-testid="list-description" value={form.description} onChange={set("description")} rows={3} placeholder="What the model does, context length, pricing notes" />
        </label>
        <details>
          <summary>Creator royalty (optional)</summary>
          <div className="row">
            <label>
              Recipient <input data-testid="list-royalty-recipient" value={form.royaltyRecipient} onChange={set("royaltyRecipient")} placeholder="0x…" size={44} />
            </label>
            <label>
              Share (basis points, at most {maxRoyalty.data ?? "…"}) <input data-testid="list-royalty-bps" value={form.royaltyBps} onChange={set("royaltyBps")} size={6} />
            </label>
          </div>
        </details>
        <details>
          <summary>Metadata ({encoded.bytes} bytes, stored on chain as a data: URI)</summary>
          <pre data-testid="list-metadata">{JSON.stringify(doc, null, 2)}</pre>
          <p className="muted small">Content hash {encoded.contentHash}</p>
        </details>
        {problem && (form.name || form.price) ? <p className="muted">{problem}</p> : null}
        <button type="submit" data-testid="list-submit" disabled={!!problem || !address || tx.status === "pending"}>
          List model
        </button>{" "}
        <TxLine tx={tx} testId="list-status" done={listed ? `Listed as listing ${listed}.` : "Listed."} />
        {listed && (
          <p data-testid="list-done">
            <a href={`#/listing/${listed}`}>See listing {listed} on the market</a>. Point your gateway at it (<code>GATEWAY_LISTINGS={listed}</code>) so the orchestrator
            routes renters to you.
          </p>
        )}
      </form>
    </section>
  );
}

// ------------------------------------------------------------------------------------------------ my listings

function MyListings({ provider }: { provider: string }) {
  const listings = useGql<{ listings: { items: MyListing[] } }>("provide-listings", MY_LISTINGS, { provider }, { refetchInterval: 5_000 });
  return (
    <section className="card" data-testid="my-listings">
      <h2>Your listings</h2>
      {listings.isPending && <Loading label="Loading your listings…" />}
      {listings.error && <ErrorMessage error={listings.error} retry={() => void listings.refetch()} />}
      {listings.data && listings.data.listings.items.length === 0 && <p className="muted">You have no listings yet.</p>}
      {listings.data?.listings.items.map((l) => <ListingCard key={l.id} listing={l} />)}
    </section>
  );
}

function ListingCard({ listing: l }: { listing: MyListing }) {
  const config = currentConfig();
  const now = useChainNow();
  const id = BigInt(l.id);
  const chain = useReadContract({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "getListing", args: [id], query: { refetchInterval: 10_000 } });
  const minBond = useReadContract({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "minProviderBond" });
  const unbondingDelay = useReadContract({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "unbondingDelay" });
  const priceTx = useNextBlockTx();
  const statusTx = useNextBlockTx();
  const bondTx = useApproveThen();
  const withdrawTx = useNextBlockTx();
  const [price, setPrice] = useState("");
  const [addBond, setAddBond] = useState("");
  const [confirmDelist, setConfirmDelist] = useState(false);
  const refetch = () => void chain.refetch();

  // On-chain values first: the indexer can be a block behind right after a transaction.
  const status = chain.data ? Number(chain.data.status) : l.status;
  const bond = chain.data ? chain.data.bond : BigInt(l.bond);
  const unbondingAt = chain.data ? Number(chain.data.unbondingAt) : Number(l.unbondingAt);
  const openEscrows = chain.data?.openEscrows ?? 0;
  const unresolved = chain.data?.unresolvedCharges ?? 0;
  const currentPrice = chain.data ? chain.data.pricePerUnit : BigInt(l.pricePerUnit);
  const delisted = status === 3;
  const newPrice = parseFtns(price);
  const bondAmount = parseFtns(addBond);

  // BondLocked: the bond comes back only when delisted, unbonded, with no open escrow and no attested charge pending
  // or disputed (a dispute the provider loses slashes it).
  const locks: string[] = [];
  if (!delisted) locks.push(`delist first; the bond then unbonds for ${seconds(unbondingDelay.data)}`);
  else if (now < unbondingAt) locks.push(`it is unbonding until ${formatTime(unbondingAt)} (${formatRelative(unbondingAt, now)})`);
  if (openEscrows > 0) locks.push(`${openEscrows} escrow${openEscrows === 1 ? " is" : "s are"} still open on it (end them below; renters get their unspent deposits back)`);
  if (unresolved > 0) locks.push(`${unresolved} committee-attested charge${unresolved === 1 ? " is" : "s are"} still in the dispute window or disputed`);
  const canWithdraw = delisted && locks.length === 0 && bond > 0n;
  const rentable = status === 1 && minBond.data !== undefined && bond >= minBond.data;

  return (
    <article className="card listing" data-testid={`listing-${l.id}`}>
      <header className="row">
        <h3>
          <a href={`#/listing/${l.id}`}>{l.name ?? `Listing ${l.id}`}</a> <span className="muted">#{l.id}</span>
        </h3>
        <span className={`status s${status}`} data-testid={`listing-status-${l.id}`}>
          {listingStatus(status)}
        </span>
      </header>
      {l.metadataError && <p className="error small">Its metadata does not decode ({l.metadataError}); the market shows it without a name.</p>}
      <dl className="facts">
        <dt>Price</dt>
        <dd data-testid={`listing-price-${l.id}`}>
          {formatFtns(currentPrice, 8)} per {unitName(l.unit)}
        </dd>
        <dt>Bond</dt>
        <dd data-testid={`listing-bond-${l.id}`}>
          {formatFtns(bond)}
          {status === 1 && minBond.data !== undefined && bond < minBond.data && <span className="error small"> below the minimum {formatFtns(minBond.data)}: not rentable until you add bond</span>}
        </dd>
        <dt>Escrows</dt>
        <dd>
          {l.escrowCount} in total, {openEscrows} open · volume {formatFtns(l.volume)}
          {l.ratingCount > 0 && l.averageRating != null ? ` · ${l.averageRating.toFixed(1)} ★ (${l.ratingCount})` : ""}
        </dd>
        <dt>Category</dt>
        <dd>{l.categoryName ?? "—"}</dd>
      </dl>
      {!delisted && (
        <>
          <div className="row">
            <input data-testid={`price-input-${l.id}`} value={price} onChange={(e) => setPrice(e.target.value)} placeholder="new price (FTNS)" inputMode="decimal" size={14} />
            <button
              type="button"
              data-testid={`set-price-${l.id}`}
              disabled={newPrice === undefined || newPrice === 0n || priceTx.status === "pending"}
              onClick={() =>
                void priceTx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "setPrice", args: [id, newPrice!] }).then((r) => {
                  if (r) setPrice("");
                  refetch();
                })
              }
            >
              Change price
            </button>
            <span className="muted small">Open escrows keep the price they opened with.</span>
            <TxLine tx={priceTx} testId={`set-price-status-${l.id}`} done="Price changed for new escrows." />
          </div>
          <div className="row">
            {status === 1 ? (
              <button
                type="button"
                data-testid={`pause-${l.id}`}
                disabled={statusTx.status === "pending"}
                onClick={() => void statusTx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "setListingActive", args: [id, false] }).then(refetch)}
              >
                Pause
              </button>
            ) : (
              <button
                type="button"
                data-testid={`resume-${l.id}`}
                disabled={statusTx.status === "pending"}
                onClick={() => void statusTx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "setListingActive", args: [id, true] }).then(refetch)}
              >
                Resume
              </button>
            )}
            {!confirmDelist ? (
              <button type="button" data-testid={`delist-${l.id}`} onClick={() => setConfirmDelist(true)}>
                Delist
              </button>
            ) : (
              <>
                <span className="muted small">Delisting is for good; the bond unbonds for {seconds(unbondingDelay.data)}.</span>
                <button
                  type="button"
                  data-testid={`delist-confirm-${l.id}`}
                  disabled={statusTx.status === "pending"}
                  onClick={() =>
                    void statusTx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "delist", args: [id] }).then(() => {
                      setConfirmDelist(false);
                      refetch();
                    })
                  }
                >
                  Confirm delist
                </button>
                <button type="button" className="link" onClick={() => setConfirmDelist(false)}>
                  cancel
                </button>
              </>
            )}
            <span className="muted small">{status === 1 ? (rentable ? "Renters can open escrows on it." : "") : "Paused: no new escrows; open ones continue."}</span>
            <TxLine tx={statusTx} testId={`status-tx-${l.id}`} />
          </div>
          <div className="row">
            <input data-testid={`add-bond-input-${l.id}`} value={addBond} onChange={(e) => setAddBond(e.target.value)} placeholder="FTNS" inputMode="decimal" size={10} />
            <button
              type="button"
              data-testid={`add-bond-${l.id}`}
              disabled={bondAmount === undefined || bondAmount === 0n || bondTx.status === "pending"}
              onClick={() =>
                void bondTx.run(bondAmount!, { address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "addBond", args: [id, bondAmount!] }).then((r) => {
                  if (r) setAddBond("");
                  refetch();
                })
              }
            >
              Add bond
            </button>
            <TxLine tx={bondTx} testId={`add-bond-status-${l.id}`} done="Bond added." />
          </div>
        </>
      )}
      {bond > 0n && (
        <div className="row">
          <button
            type="button"
            data-testid={`withdraw-bond-${l.id}`}
            disabled={!canWithdraw || withdrawTx.status === "pending"}
            onClick={() => void withdrawTx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "withdrawBond", args: [id] }).then(refetch)}
          >
            Withdraw bond
          </button>
          {!canWithdraw && (
            <span className="muted small" data-testid={`bond-locked-${l.id}`}>
              The bond is locked: {locks.join("; ")}.
            </span>
          )}
          <TxLine tx={withdrawTx} testId={`withdraw-bond-status-${l.id}`} done="Bond returned to your wallet." />
        </div>
      )}
      {delisted && bond === 0n && <p className="muted">Delisted; the bond has been withdrawn.</p>}
      {openEscrows > 0 && <OpenEscrows listingId={l.id} onClosed={refetch} />}
    </article>
  );
}

/** The listing's open escrows, which its provider may end at once (closeEscrowByProvider: renters are refunded). */
function OpenEscrows({ listingId, onClosed }: { listingId: string; onClosed: () => void }) {
  const escrows = useGql<{ escrows: { items: { id: string; renter: string; remaining: string; expiresAt: string }[] } }>("provide-open-escrows", OPEN_ESCROWS, { listingId });
  return (
    <details>
      <summary>Open escrows</summary>
      {escrows.error && <ErrorMessage error={escrows.error} />}
      <ul>
        {escrows.data?.escrows.items.map((e) => (
          <EndEscrow key={e.id} escrow={e} onClosed={onClosed} />
        ))}
      </ul>
      <p className="muted small">Ending an escrow refunds its unspent deposit to the renter; charges already made stand, usage not yet charged is forgone.</p>
    </details>
  );
}

function EndEscrow({ escrow: e, onClosed }: { escrow: { id: string; renter: string; remaining: string; expiresAt: string }; onClosed: () => void }) {
  const config = currentConfig();
  const tx = useNextBlockTx();
  return (
    <li>
      Escrow {e.id} of {shortAddress(e.renter)}: {formatFtns(e.remaining)} left, expires {formatTime(e.expiresAt)}{" "}
      <button
        type="button"
        data-testid={`end-escrow-${e.id}`}
        disabled={tx.status === "pending" || tx.status === "confirmed"}
        onClick={() => void tx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "closeEscrowByProvider", args: [BigInt(e.id)] }).then(onClosed)}
      >
        End escrow
      </button>{" "}
      <TxLine tx={tx} done="Ended; the renter was refunded." />
    </li>
  );
}
