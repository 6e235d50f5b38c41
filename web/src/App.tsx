import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useMemo, type ComponentType, type ReactNode } from "react";
import { WagmiProvider } from "wagmi";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { Layout } from "./components/Layout";
import { Loading } from "./components/Loading";
import type { AppConfig } from "./lib/config";
import { createWagmiConfig } from "./lib/wagmi";
import MarketPage from "./pages/Market";
import { Router, useScrollReset, type Route } from "./router";

// Every route but the market is its own chunk. The account, provide and governance pages are written alongside
// this app; import.meta.glob picks up whichever of them exist, so a missing one is a notice, not a broken build.
const ListingPage = lazy(() => import("./pages/Listing"));
const ChatPage = lazy(() => import("./pages/Chat"));
const ChatIndexPage = lazy(() => import("./pages/ChatIndex"));
const pageModules = import.meta.glob<{ default: ComponentType }>("./pages/{Account,Provide,Governance}.tsx");

function optionalPage(file: string): ComponentType {
  const load = pageModules[`./pages/${file}.tsx`];
  if (!load) return () => <p className="muted">This page is not available in this build yet.</p>;
  return lazy(load);
}

const AccountPage = optionalPage("Account");
const ProvidePage = optionalPage("Provide");
const GovernancePage = optionalPage("Governance");

const page = (node: ReactNode) => (
  <ErrorBoundary>
    <Suspense fallback={<Loading />}>{node}</Suspense>
  </ErrorBoundary>
);

const routes: Route[] = [
  { pattern: "/", render: () => page(<MarketPage />) },
  { pattern: "/listing/:id", render: (p) => page(<ListingPage key={p.id} id={p.id!} />) },
  { pattern: "/chat", render: () => page(<ChatIndexPage />) },
  { pattern: "/chat/:escrowId", render: (p) => page(<ChatPage key={p.escrowId} escrowId={p.escrowId!} />) },
  { pattern: "/account", render: () => page(<AccountPage />) },
  { pattern: "/provide", render: () => page(<ProvidePage />) },
  { pattern: "/governance", render: () => page(<GovernancePage />) },
];

function Routes() {
  useScrollReset();
  return <Router routes={routes} fallback={<p className="muted">There is no page here. Go to the market.</p>} />;
}

export function App({ config }: { config: AppConfig }) {
  const wagmiConfig = useMemo(() => createWagmiConfig(config), [config]);
  const queryClient = useMemo(() => new QueryClient({ defaultOptions: { queries: { staleTime: 5_000, refetchOnWindowFocus: false } } }), []);
  return (
    <WagmiProvider config={wagmiConfig}>
      <QueryClientProvider client={queryClient}>
        <Layout>
          <Routes />
        </Layout>
      </QueryClientProvider>
    </WagmiProvider>
  );
}
