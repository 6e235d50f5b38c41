import type { ReactNode } from "react";
import { currentConfig } from "../lib/config";
import { Link, usePath } from "../router";
import { ConnectButton } from "./ConnectButton";
import { NetworkBanner } from "./NetworkBanner";

const NAV = [
  { to: "/", label: "Market", match: (p: string) => p === "/" || p.startsWith("/listing") },
  { to: "/chat", label: "Chat", match: (p: string) => p.startsWith("/chat") },
  { to: "/account", label: "Account", match: (p: string) => p.startsWith("/account") },
  { to: "/provide", label: "Provide", match: (p: string) => p.startsWith("/provide") },
  { to: "/governance", label: "Governance", match: (p: string) => p.startsWith("/governance") },
];

export function Layout({ children }: { children: ReactNode }) {
  const path = usePath();
  const config = currentConfig();
  return (
    <div className="app">
      <header className="top">
        <Link to="/" className="brand">
          PRSM
        </Link>
        <nav aria-label="Main">
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} className={n.match(path) ? "active" : undefined} aria-current={n.match(path) ? "page" : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        <span className="network muted">{config.chainName}</span>
        <ConnectButton />
      </header>
      <NetworkBanner />
      <main>{children}</main>
      <footer className="muted">
        Open AI model marketplace · FTNS on {config.chainName} · <a href="/graphql">GraphQL API</a>
      </footer>
    </div>
  );
}

export default Layout;
