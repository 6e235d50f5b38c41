/**
 * The Rent form of a listing: deposit, spend cap, duration and the maximum price per unit. Submitting generates a
 * session key in this browser, asks the wallet for ONE permit signature and ONE transaction
 * (openEscrowWithSessionKey), then opens the chat of the new escrow.
 */
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { formatUnits } from "viem";
import { useConfig, useConnection } from "wagmi";
import { marketplaceAbi, tokenAbi } from "../lib/abi";
import { currentConfig } from "../lib/config";
import { explain } from "../lib/errors";
import { formatDuration, formatFtns, formatUsd, parseFtns, unitName } from "../lib/format";
import { openWithSessionKey, publicClient, type RentStep } from "../lib/session";
import type { ListingRow } from "../lib/queries";
import { navigate } from "../router";

const DURATIONS = [
  { label: "1 hour", seconds: 3_600 },
  { label: "6 hours", seconds: 6 * 3_600 },
  { label: "1 day", seconds: 86_400 },
  { label: "7 days", seconds: 7 * 86_400 },
  { label: "30 days", seconds: 30 * 86_400 },
];

const STEP_TEXT: Record<RentStep, string> = {
  key: "Creating this browser's session key…",
  permit: "Sign the permit in your wallet (it lets the marketplace take the deposit)…",
  transaction: "Confirm the transaction in your wallet (it opens the escrow and authorizes the session key)…",
  mining: "Waiting for the transaction to be mined…",
};

export function RentForm({ listing }: { listing: ListingRow }) {
  const config = currentConfig();
  const wagmi = useConfig();
  const connection = useConnection();
  const [deposit, setDeposit] = useState("5");
  const [spendCap, setSpendCap] = useState("");
  const [duration, setDuration] = useState(86_400);
  const [maxPrice, setMaxPrice] = useState(() => formatUnits(BigInt(listing.pricePerUnit), 18));
  const [step, setStep] = useState<RentStep>();
  const [error, setError] = useState<string>();

  const params = useQuery({
    queryKey: ["market-params", connection.address ?? ""],
    queryFn: async () => {
      const client = publicClient(wagmi);
      const m = config.contracts.marketplace;
      const [minDeposit, maxDuration, balance] = await Promise.all([
        client.readContract({ address: m, abi: marketplaceAbi, functionName: "minEscrowDeposit" }) as Promise<bigint>,
        client.readContract({ address: m, abi: marketplaceAbi, functionName: "maxEscrowDuration" }) as Promise<number>,
        connection.address ? (client.readContract({ address: config.contracts.token, abi: tokenAbi, functionName: "balanceOf", args: [connection.address] }) as Promise<bigint>) : Promise.resolve(undefined),
      ]);
      return { minDeposit, maxDuration: Number(maxDuration), balance };
    },
  });

  const depositWei = parseFtns(deposit);
  const capWei = spendCap.trim() ? parseFtns(spendCap) : depositWei;
  const maxPriceWei = parseFtns(maxPrice);

  const problem = (() => {
    if (depositWei === undefined || depositWei === 0n) return "Enter a deposit in FTNS, like 5.";
    if (params.data && depositWei < params.data.minDeposit) return `The deposit must be at least ${formatFtns(params.data.minDeposit)}.`;
    if (params.data?.balance !== undefined && depositWei > params.data.balance) return `Not enough FTNS: the connected account holds ${formatFtns(params.data.balance)}.`;
    if (capWei === undefined || capWei === 0n) return "Enter a spend cap in FTNS (at most the deposit).";
    if (capWei > depositWei) return "The spend cap cannot be more than the deposit.";
    if (maxPriceWei === undefined || maxPriceWei === 0n) return "Enter the most you accept to pay per unit.";
    if (maxPriceWei < BigInt(listing.pricePerUnit)) return `The listing costs ${formatFtns(listing.pricePerUnit, 18)} per ${unitName(listing.unit)}; your maximum is below it.`;
    if (params.data && duration > params.data.maxDuration) return `Escrows may run at most ${formatDuration(params.data.maxDuration)}.`;
    return undefined;
  })();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    if (problem || depositWei === undefined || capWei === undefined || maxPriceWei === undefined) return;
    try {
      const escrowId = await openWithSessionKey(wagmi, { listingId: BigInt(listing.id), deposit: depositWei, spendCap: capWei, durationSeconds: duration, maxPricePerUnit: maxPriceWei }, setStep);
      navigate(`/chat/${escrowId}`);
    } catch (err) {
      setError(explain(err));
    } finally {
      setStep(undefined);
    }
  };

  const units = capWei && BigInt(listing.pricePerUnit) > 0n ? capWei / BigInt(listing.pricePerUnit) : undefined;
  return (
    <form className="stack card" onSubmit={(e) => void submit(e)} aria-label="Rent this model">
      <h2>Rent</h2>
      <label>
        Deposit (FTNS)
        <input name="deposit" inputMode="decimal" value={deposit} onChange={(e) => setDeposit(e.target.value)} />
      </label>
      <label>
        Spend cap (FTNS, at most the deposit; empty = the deposit)
        <input name="spendCap" inputMode="decimal" value={spendCap} placeholder={deposit} onChange={(e) => setSpendCap(e.target.value)} />
      </label>
      <label>
        Runs for
        <select name="duration" value={duration} onChange={(e) => setDuration(Number(e.target.value))}>
          {DURATIONS.map((d) => (
            <option key={d.seconds} value={d.seconds}>
              {d.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Max price per {unitName(listing.unit)} (FTNS)
        <input name="maxPrice" inputMode="decimal" value={maxPrice} onChange={(e) => setMaxPrice(e.target.value)} />
      </label>
      <p className="muted small">
        {units !== undefined && `The spend cap pays for about ${units.toLocaleString()} ${unitName(listing.unit)}s${formatUsd(capWei, config.usdPerFtns) ? ` (${formatUsd(capWei, config.usdPerFtns)})` : ""}. `}
        Unspent deposit returns to you when the escrow closes. {params.data?.balance !== undefined && `You hold ${formatFtns(params.data.balance)}.`}
      </p>
      <p className="notice small">
        Your wallet signs once (a permit) and sends one transaction. Chat messages are then signed by a <strong>session key</strong> created in this browser and kept in
        its local storage: it can sign only for this escrow, at most its spend cap, and you can revoke it from the chat page.
      </p>
      {!connection.address ? (
        <p className="muted">Connect a wallet to rent.</p>
      ) : (
        <button type="submit" disabled={Boolean(problem) || step !== undefined}>
          {step ? "Working…" : "Open escrow and chat"}
        </button>
      )}
      {connection.address && problem && <p className="muted small">{problem}</p>}
      {step && (
        <p className="loading" aria-live="polite">
          <span className="spinner" aria-hidden="true" /> {STEP_TEXT[step]}
        </p>
      )}
      {error && (
        <div className="error" role="alert" data-testid="rent-error">
          {error}
        </div>
      )}
    </form>
  );
}

export default RentForm;
