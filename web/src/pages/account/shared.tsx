/**
 * Small pieces the Account, Provide and Governance pages share: the chain's notion of "now", the payouts panel, a
 * transaction status line and a guard for pages that need a connected wallet.
 */
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { useBlock, useConfig, useConnection, useReadContract } from "wagmi";
import { readContract } from "wagmi/actions";
import { marketplaceAbi, tokenAbi } from "../../lib/abi";
import { currentConfig } from "../../lib/config";
import { formatFtns, formatUsd } from "../../lib/format";
import { useTx, type TxRequest, type TxState } from "../../lib/tx";

/**
 * The time the next block will have, as well as the browser can tell (seconds). A chain's clock need not be the
 * wall clock (a local chain mines on demand and may have been moved ahead with evm_increaseTime), so the pending
 * block's timestamp, polled every few seconds, gives the chain's offset from the wall clock; the latest block's
 * timestamp is the floor. Without a pending block (some RPCs answer none) the wall clock stands in. Ticks every
 * second so that countdowns and "closable after" buttons enable themselves.
 */
export function useChainNow(): number {
  const latest = useBlock({ watch: true, query: { refetchInterval: 5_000 } });
  const pending = useBlock({ blockTag: "pending", query: { refetchInterval: 5_000, retry: false } });
  const [wall, setWall] = useState(() => Date.now() / 1000);
  useEffect(() => {
    const timer = setInterval(() => setWall(Date.now() / 1000), 1_000);
    return () => clearInterval(timer);
  }, []);
  const floor = latest.data ? Number(latest.data.timestamp) : 0;
  const offset = pending.data?.timestamp && pending.dataUpdatedAt ? Number(pending.data.timestamp) - pending.dataUpdatedAt / 1000 : 0;
  return Math.floor(Math.max(floor, wall + offset));
}

/** The connected address (lower case for GraphQL filters) or undefined. */
export function useMe(): { address?: `0x${string}`; lower?: string; chainOk: boolean } {
  const connection = useConnection();
  const address = connection.address;
  return { address, lower: address?.toLowerCase(), chainOk: connection.chainId === currentConfig().chainId };
}

/** "Sending…" / "Confirmed" / the explained error of one transaction. */
export function TxLine({ tx, testId, done = "Confirmed." }: { tx: TxState; testId?: string; done?: string }) {
  if (tx.status === "idle") return null;
  if (tx.status === "pending")
    return (
      <span className="muted tx-status" data-testid={testId} aria-busy="true">
        {tx.phase === "wallet" ? "Confirm in your wallet…" : "Waiting for the transaction to be mined…"}
      </span>
    );
  if (tx.status === "confirmed")
    return (
      <span className="ok tx-status" data-testid={testId}>
        {done}
      </span>
    );
  return (
    <span className="error tx-status" role="alert" data-testid={testId}>
      {tx.error}
    </span>
  );
}

/** Renders `children` only with a connected wallet; otherwise says what to do. */
export function NeedsWallet({ children, what }: { children: ReactNode; what: string }) {
  const { address } = useMe();
  if (!address)
    return (
      <p className="muted" data-testid="connect-first">
        Connect a wallet to {what}.
      </p>
    );
  return <>{children}</>;
}

/**
 * The connected account's unclaimed marketplace payouts (provider earnings, royalties, refunds of a closed escrow's
 * disputed charges, dispute bonds) from `payoutOf`, with Withdraw.
 */
export function PayoutsPanel({ title = "Payouts" }: { title?: string }) {
  const { address } = useMe();
  const config = currentConfig();
  const payout = useReadContract({
    address: config.contracts.marketplace,
    abi: marketplaceAbi,
    functionName: "payoutOf",
    args: address ? [address] : undefined,
    query: { enabled: !!address, refetchInterval: 10_000 },
  });
  const tx = useNextBlockTx();
  const amount = payout.data ?? 0n;
  return (
    <section className="card" data-testid="payouts">
      <h2>{title}</h2>
      <p>
        Withdrawable: <strong data-testid="withdrawable">{formatFtns(amount)}</strong>{" "}
        <span className="muted">{formatUsd(amount, config.usdPerFtns)}</span>
      </p>
      <p className="muted">
        Provider earnings, royalties, dispute bonds returned and refunds for closed escrows wait here until you withdraw them.
      </p>
      <button
        type="button"
        data-testid="withdraw"
        disabled={!address || amount === 0n || tx.status === "pending"}
        onClick={() => void tx.send({ address: config.contracts.marketplace, abi: marketplaceAbi, functionName: "withdraw", args: [] }).then(() => payout.refetch())}
      >
        Withdraw
      </button>{" "}
      {amount === 0n && tx.status === "idle" && <span className="muted">Nothing to withdraw.</span>}
      <TxLine tx={tx} testId="withdraw-status" done="Withdrawn to your wallet." />
    </section>
  );
}

/** The FTNS allowance the marketplace has from the connected account. */
export function useMarketplaceAllowance() {
  const { address } = useMe();
  const config = currentConfig();
  return useReadContract({
    address: config.contracts.token,
    abi: tokenAbi,
    functionName: "allowance",
    args: address ? [address, config.contracts.marketplace] : undefined,
    query: { enabled: !!address },
  });
}

/** A duration in seconds as "2 d 3 h" / "5 min" / "60 s". */
export function seconds(value: bigint | number | string | undefined): string {
  if (value === undefined) return "—";
  const s = Number(value);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

/**
 * useTx() whose simulation runs against the pending block (`blockTag: "pending"`) rather than the latest one. What
 * these pages send often depends on time (voting opened, the escrow expired, the dispute window, unbonding), and a
 * chain that mines only on demand (the local one) stamps its latest block long before the block the transaction
 * will land in: simulated at "latest", a vote on a proposal whose voting opened after the last block reads as
 * "voting has not started" although the transaction itself would succeed.
 */
export function useNextBlockTx() {
  const tx = useTx();
  const sendNow = tx.send;
  const send = useCallback(
    (request: TxRequest, options?: Parameters<typeof sendNow>[1]) => sendNow({ ...request, blockTag: "pending" } as TxRequest, options),
    [sendNow],
  );
  return { ...tx, send };
}

/**
 * One button's worth of "approve the marketplace for `amount` FTNS if its allowance is short, then send `request`"
 * (list, addBond and disputeCharge pull FTNS from the caller). Both transactions go through the same useTx state.
 */
export function useApproveThen() {
  const tx = useNextBlockTx();
  const send = tx.send;
  const wagmiConfig = useConfig();
  const { address } = useMe();
  const run = useCallback(
    async (amount: bigint, request: TxRequest) => {
      const config = currentConfig();
      if (amount > 0n && address) {
        const allowance = await readContract(wagmiConfig, {
          address: config.contracts.token,
          abi: tokenAbi,
          functionName: "allowance",
          args: [address, config.contracts.marketplace],
        }).catch(() => 0n);
        if (allowance < amount) {
          const approved = await send({ address: config.contracts.token, abi: tokenAbi, functionName: "approve", args: [config.contracts.marketplace, amount] });
          if (!approved) return undefined;
        }
      }
      return send(request);
    },
    [send, wagmiConfig, address],
  );
  return { ...tx, run };
}
