/**
 * The wagmi configuration from config.json: one chain (viem's defineChain from chainId/rpcUrl), the generic
 * `injected()` connector plus every EIP-6963 wallet the page announces (wagmi's multiInjectedProviderDiscovery, on
 * by default), and an HTTP transport to config.rpcUrl for reads and receipts.
 */
import { defineChain, type Chain } from "viem";
import { createConfig, http, type Config } from "wagmi";
import { injected } from "wagmi/connectors";
import type { AppConfig } from "./config";

export function chainOf(config: AppConfig): Chain {
  return defineChain({
    id: config.chainId,
    name: config.chainName,
    nativeCurrency: config.nativeCurrency,
    rpcUrls: { default: { http: [config.rpcUrl] } },
    blockExplorers: config.blockExplorerUrl ? { default: { name: "Explorer", url: config.blockExplorerUrl } } : undefined,
    testnet: config.chainId !== 137,
  });
}

export function createWagmiConfig(config: AppConfig): Config {
  const chain = chainOf(config);
  return createConfig({
    chains: [chain],
    connectors: [injected({ shimDisconnect: true })],
    multiInjectedProviderDiscovery: true,
    transports: { [chain.id]: http(config.rpcUrl, { retryCount: 1 }) },
    pollingInterval: 500,
  });
}
