/**
 * Connect / disconnect. Wallets come from wagmi's connectors: every EIP-6963 wallet the page announced (by name and
 * icon) and, when none announced itself, the generic injected provider (window.ethereum).
 */
import { useState } from "react";
import { useConnect, useConnection, useConnectors, useDisconnect, type Connector } from "wagmi";
import { currentConfig } from "../lib/config";
import { explain } from "../lib/errors";
import { shortAddress } from "../lib/format";

function usableConnectors(connectors: readonly Connector[]): Connector[] {
  const announced = connectors.filter((c) => c.id !== "injected");
  if (announced.length) return announced;
  return typeof window !== "undefined" && (window as { ethereum?: unknown }).ethereum ? connectors.filter((c) => c.id === "injected") : [];
}

export function ConnectButton() {
  const connection = useConnection();
  const connectors = useConnectors();
  const connect = useConnect();
  const disconnect = useDisconnect();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string>();

  if (connection.status === "connected" && connection.address) {
    return (
      <div className="connect">
        <span className="address" title={connection.address} data-testid="connected-address">
          {connection.connector?.icon && <img src={connection.connector.icon} alt="" width={16} height={16} />} {shortAddress(connection.address)}
        </span>
        <button type="button" className="secondary" onClick={() => disconnect.mutate({})}>
          Disconnect
        </button>
      </div>
    );
  }

  const wallets = usableConnectors(connectors);
  const choose = async (connector: Connector) => {
    setError(undefined);
    setOpen(false);
    try {
      await connect.mutateAsync({ connector, chainId: currentConfig().chainId });
    } catch (e) {
      // A wallet on another chain still connects (the banner offers the switch); only real failures land here.
      try {
        await connect.mutateAsync({ connector });
      } catch (e2) {
        setError(explain(e2 ?? e));
      }
    }
  };

  return (
    <div className="connect">
      <button type="button" onClick={() => setOpen((o) => !o)} disabled={connection.status === "connecting"} aria-haspopup="menu" aria-expanded={open}>
        {connection.status === "connecting" ? "Connecting…" : "Connect wallet"}
      </button>
      {open && (
        <div className="menu" role="menu">
          {wallets.length === 0 && <p className="muted">No browser wallet found. Install one (e.g. MetaMask) and reload.</p>}
          {wallets.map((c) => (
            <button type="button" role="menuitem" key={c.uid} onClick={() => void choose(c)}>
              {c.icon && <img src={c.icon} alt="" width={20} height={20} />} {c.name}
            </button>
          ))}
        </div>
      )}
      {error && (
        <div className="error small" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

export default ConnectButton;
