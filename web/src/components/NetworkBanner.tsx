/**
 * Shown while the connected wallet is on another chain than config.json's. "Switch" asks the wallet to switch; for
 * Polygon (137) and Amoy (80002), or any chain the wallet does not know (4902), it first offers the network with
 * wallet_addEthereumChain from config.json (chainName, rpcUrl, nativeCurrency, blockExplorerUrl).
 */
import { useState } from "react";
import { numberToHex } from "viem";
import { useConnection, useSwitchChain } from "wagmi";
import { currentConfig } from "../lib/config";
import { explain } from "../lib/errors";

export function NetworkBanner() {
  const connection = useConnection();
  const switchChain = useSwitchChain();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const config = currentConfig();
  if (connection.status !== "connected" || connection.chainId === undefined || connection.chainId === config.chainId) return null;

  const addChain = async () => {
    const provider = (await connection.connector?.getProvider()) as { request(args: { method: string; params?: unknown[] }): Promise<unknown> } | undefined;
    await provider?.request({
      method: "wallet_addEthereumChain",
      params: [
        {
          chainId: numberToHex(config.chainId),
          chainName: config.chainName,
          rpcUrls: [config.rpcUrl],
          nativeCurrency: config.nativeCurrency,
          blockExplorerUrls: config.blockExplorerUrl ? [config.blockExplorerUrl] : undefined,
        },
      ],
    });
  };

  const onSwitch = async () => {
    setBusy(true);
    setError(undefined);
    try {
      if (config.chainId === 80002 || config.chainId === 137) await addChain();
      await switchChain.mutateAsync({ chainId: config.chainId });
    } catch (e) {
      const code = (e as { code?: number; cause?: { code?: number } }).code ?? (e as { cause?: { code?: number } }).cause?.code;
      if (code === 4902) {
        try {
          await addChain();
          await switchChain.mutateAsync({ chainId: config.chainId });
        } catch (e2) {
          setError(explain(e2));
        }
      } else setError(explain(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="banner warning" role="alert" data-testid="wrong-network">
      <span>
        Your wallet is on network {connection.chainId}; PRSM here runs on <strong>{config.chainName}</strong> ({config.chainId}). Nothing can be signed until
        you switch.
      </span>
      <button type="button" onClick={() => void onSwitch()} disabled={busy}>
        {busy ? "Switching…" : `Switch to ${config.chainName}`}
      </button>
      {error && <span className="error small">{error}</span>}
    </div>
  );
}

export default NetworkBanner;
