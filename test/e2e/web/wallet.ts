/**
 * An injected EIP-1193 wallet for a playwright Page, backed by a local development key held in the Node test
 * process (never in the page). The page gets `window.ethereum` and an EIP-6963 announcement ("PRSM Test Wallet",
 * rdns dev.prsm.testwallet); every request goes to Node through `page.exposeBinding`, where:
 *
 *   eth_requestAccounts, eth_accounts      [address]
 *   eth_chainId                            the chain the wallet is on (the real one unless setChain/switch moved it)
 *   wallet_switchEthereumChain             to a chain it knows (the real one, or one added); else 4902
 *   wallet_addEthereumChain                remembers the chain and switches to it (as MetaMask asks to)
 *   eth_signTypedData_v4, personal_sign    signed with the key (viem); the typed data's domain chainId must be the
 *                                          wallet's current chain, as MetaMask requires
 *   eth_sendTransaction                    filled (nonce, gas, fees), signed and sent raw by viem's wallet client
 *                                          against rpcUrl; only on the real chain
 *   anything else                          forwarded to rpcUrl as JSON-RPC (errors keep their code and data)
 *
 * accountsChanged / chainChanged are emitted to the page as a real wallet does. Call `installWallet` before the
 * first `page.goto` (it uses an init script).
 *
 *   const wallet = await installWallet(page, { privateKey, rpcUrl, chainId: 31337 });
 *   wallet.rejectNext("eth_sendTransaction");   // the next one fails with 4001 "User rejected the request."
 *   await wallet.setChain(1);                    // the wallet is on Ethereum now: the app should ask to switch
 */
import type { Page } from "playwright-core";
import { createWalletClient, defineChain, http, type Hex, BaseError } from "viem";
import { privateKeyToAccount } from "viem/accounts";

export interface WalletOptions {
  privateKey: Hex;
  rpcUrl: string;
  /** The real chain behind rpcUrl (asked with eth_chainId when omitted). */
  chainId?: number;
}

export interface WalletController {
  address: `0x${string}`;
  /** eth_signTypedData_v4 and personal_sign requests signed so far. */
  readonly signatures: number;
  /** eth_sendTransaction requests sent so far. */
  readonly transactions: number;
  /** Every request's method, in order (the page's own polling included). */
  readonly requests: string[];
  /** Hashes of the transactions sent, in order. */
  readonly hashes: Hex[];
  /** The chain the wallet is on now. */
  readonly chainId: number;
  /**
   * The next request of `method` (without one: the next request that would ask the user, e.g. connect, sign, send,
   * switch chain) fails with EIP-1193 error 4001 "User rejected the request.".
   */
  rejectNext(method?: string): void;
  /** Simulates the wallet being on another chain (any id, even one it does not know): emits chainChanged. */
  setChain(chainId: number): Promise<void>;
  /** Switches as the user would in the wallet, to a chain it knows (the real one, or one the page added). */
  switchTo(chainId: number): Promise<void>;
  /** Emits an EIP-1193 event to the page (accountsChanged, chainChanged, disconnect, ...). */
  emit(event: string, payload: unknown): Promise<void>;
}

const USER_FACING = new Set([
  "eth_requestAccounts",
  "eth_sendTransaction",
  "eth_signTypedData_v4",
  "eth_signTypedData",
  "personal_sign",
  "wallet_switchEthereumChain",
  "wallet_addEthereumChain",
  "wallet_watchAsset",
  "wallet_requestPermissions",
]);

const ICON = `data:image/svg+xml;base64,${Buffer.from(
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#5b3cc4"/><text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff" font-family="sans-serif">P</text></svg>`,
).toString("base64")}`;

class ProviderError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

const hex = (n: number) => `0x${n.toString(16)}`;
const parseChainId = (value: unknown): number => {
  if (typeof value === "number") return value;
  if (typeof value === "string") return Number(BigInt(value));
  throw new ProviderError(-32602, `invalid chainId ${JSON.stringify(value)}`);
};
const big = (value: unknown): bigint | undefined => (value === undefined || value === null ? undefined : BigInt(value as string));

async function rpcCall(rpcUrl: string, method: string, params: unknown): Promise<unknown> {
  const res = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: params ?? [] }),
  });
  const json = (await res.json()) as { result?: unknown; error?: { code: number; message: string; data?: unknown } };
  if (json.error) throw new ProviderError(json.error.code, json.error.message, json.error.data);
  return json.result;
}

/** viem's error chain as an EIP-1193 error, keeping the node's code and revert data where there is one. */
function toProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof BaseError) {
    const inner = error.walk((e) => typeof (e as { code?: unknown }).code === "number") as { code?: number; data?: unknown } | null;
    const data = (error.walk((e) => typeof (e as { data?: unknown }).data === "string") as { data?: unknown } | null)?.data;
    return new ProviderError(inner?.code ?? -32603, error.shortMessage || error.message, data ?? inner?.data);
  }
  return new ProviderError(-32603, (error as Error)?.message ?? String(error));
}

/**
 * Runs in the page, before any of its scripts: the provider object and its EIP-6963 announcement. Plain JavaScript
 * in a string: tsx compiles functions with name-keeping helpers that do not exist in the page.
 */
function pageScript(info: { uuid: string; name: string; icon: string; rdns: string }): string {
  return `(() => {
  const info = Object.freeze(${JSON.stringify(info)});
  const listeners = new Map();
  const call = window.__prsmWalletRequest;
  const provider = {
    isPrsmTestWallet: true,
    isMetaMask: false,
    async request(args) {
      if (!args || typeof args.method !== "string") throw Object.assign(new Error("request needs a method"), { code: -32600 });
      const answer = await call({ method: args.method, params: args.params });
      if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code, data: answer.error.data });
      return answer.result;
    },
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(listener);
      return provider;
    },
    removeListener(event, listener) {
      const set = listeners.get(event);
      if (set) set.delete(listener);
      return provider;
    },
    off(event, listener) { return provider.removeListener(event, listener); },
    once(event, listener) {
      const wrapped = (payload) => { provider.removeListener(event, wrapped); listener(payload); };
      return provider.on(event, wrapped);
    },
  };
  window.__prsmWalletEmit = (event, payload) => {
    for (const listener of [...(listeners.get(event) || [])]) {
      try { listener(payload); } catch (error) { console.error(error); }
    }
  };
  Object.defineProperty(window, "ethereum", { value: provider, configurable: true, writable: true });
  const detail = Object.freeze({ info, provider });
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
  window.dispatchEvent(new Event("ethereum#initialized"));
})();`;
}

/** Installs the wallet into `page` (before its first navigation) and returns its controller. */
export async function installWallet(page: Page, options: WalletOptions): Promise<WalletController> {
  const account = privateKeyToAccount(options.privateKey);
  const realChainId = options.chainId ?? parseChainId(await rpcCall(options.rpcUrl, "eth_chainId", []));
  const chain = defineChain({
    id: realChainId,
    name: `chain ${realChainId}`,
    nativeCurrency: { name: "POL", symbol: "POL", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const walletClient = createWalletClient({ account, chain, transport: http(options.rpcUrl, { retryCount: 0 }) });
  const known = new Set<number>([realChainId]);
  let current = realChainId;
  let signatures = 0;
  let transactions = 0;
  const requests: string[] = [];
  const hashes: Hex[] = [];
  const rejections: (string | undefined)[] = [];
  let sending: Promise<unknown> = Promise.resolve();

  const emit = async (event: string, payload: unknown) => {
    await page
      .evaluate(([e, p]) => (window as unknown as { __prsmWalletEmit?: (e: string, p: unknown) => void }).__prsmWalletEmit?.(e as string, p), [event, payload] as const)
      .catch(() => undefined); // the page is navigating or closed: nobody to tell
  };
  const moveTo = async (chainId: number) => {
    if (chainId === current) return;
    current = chainId;
    await emit("chainChanged", hex(chainId));
  };
  const ownAddress = (value: unknown) => {
    if (typeof value !== "string" || value.toLowerCase() !== account.address.toLowerCase()) {
      throw new ProviderError(4100, `The requested account ${String(value)} has not been authorized by the user.`);
    }
  };

  async function handle(method: string, params: unknown): Promise<unknown> {
    const list = Array.isArray(params) ? params : [];
    const rejectAt = rejections.findIndex((m) => (m === undefined ? USER_FACING.has(method) : m === method));
    if (rejectAt !== -1) {
      rejections.splice(rejectAt, 1);
      throw new ProviderError(4001, "User rejected the request.");
    }
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return [account.address];
      case "eth_coinbase":
        return account.address;
      case "eth_chainId":
        return hex(current);
      case "net_version":
        return String(current);
      case "wallet_requestPermissions":
      case "wallet_getPermissions":
        return [{ parentCapability: "eth_accounts", caveats: [{ type: "restrictReturnedAccounts", value: [account.address] }] }];
      case "wallet_revokePermissions":
        return null;
      case "wallet_switchEthereumChain": {
        const chainId = parseChainId((list[0] as { chainId?: unknown })?.chainId);
        if (!known.has(chainId)) throw new ProviderError(4902, `Unrecognized chain ID "${hex(chainId)}". Try adding the chain using wallet_addEthereumChain first.`);
        await moveTo(chainId);
        return null;
      }
      case "wallet_addEthereumChain": {
        const chainId = parseChainId((list[0] as { chainId?: unknown })?.chainId);
        known.add(chainId);
        await moveTo(chainId);
        return null;
      }
      case "wallet_watchAsset":
        return true;
      case "wallet_getCapabilities":
      case "wallet_sendCalls":
      case "wallet_getCallsStatus":
      case "wallet_showCallsStatus":
      case "eth_sign":
      case "eth_signTransaction":
        throw new ProviderError(4200, `The test wallet does not support ${method}.`);
      case "eth_signTypedData_v4": {
        ownAddress(list[0]);
        const typed = (typeof list[1] === "string" ? JSON.parse(list[1]) : list[1]) as {
          domain?: { chainId?: unknown };
          types: Record<string, { name: string; type: string }[]>;
          primaryType: string;
          message: Record<string, unknown>;
        };
        if (typed.domain?.chainId !== undefined && parseChainId(typed.domain.chainId) !== current) {
          throw new ProviderError(-32602, `Provided chainId "${parseChainId(typed.domain.chainId)}" must match the active chainId "${current}"`);
        }
        const domain = { ...typed.domain, chainId: typed.domain?.chainId === undefined ? undefined : parseChainId(typed.domain.chainId) };
        const signature = await account.signTypedData({ domain, types: typed.types, primaryType: typed.primaryType, message: typed.message } as unknown as Parameters<typeof account.signTypedData>[0]);
        signatures++;
        return signature;
      }
      case "personal_sign": {
        ownAddress(list[1]);
        const data = list[0] as string;
        const signature = await account.signMessage({ message: /^0x[0-9a-fA-F]*$/.test(data) ? { raw: data as Hex } : data });
        signatures++;
        return signature;
      }
      case "eth_sendTransaction": {
        const tx = (list[0] ?? {}) as Record<string, unknown>;
        if (tx.from !== undefined) ownAddress(tx.from);
        if (current !== realChainId) {
          throw new ProviderError(-32603, `the test wallet is on chain ${current} (simulated) and can send only on chain ${realChainId}`);
        }
        // One at a time: each is filled with the next nonce after the previous one was sent.
        const send = sending.then(async () => {
          try {
            return await walletClient.sendTransaction({
              account,
              chain,
              to: tx.to as Hex | undefined,
              data: (tx.data ?? tx.input) as Hex | undefined,
              value: big(tx.value),
              gas: big(tx.gas),
              nonce: tx.nonce === undefined ? undefined : Number(BigInt(tx.nonce as string)),
              ...(tx.gasPrice !== undefined
                ? { gasPrice: big(tx.gasPrice) }
                : { maxFeePerGas: big(tx.maxFeePerGas), maxPriorityFeePerGas: big(tx.maxPriorityFeePerGas) }),
            } as never);
          } catch (error) {
            throw toProviderError(error);
          }
        });
        sending = send.catch(() => undefined);
        const hash = await send;
        transactions++;
        hashes.push(hash);
        return hash;
      }
      default:
        return rpcCall(options.rpcUrl, method, params);
    }
  }

  await page.exposeBinding("__prsmWalletRequest", async (_source, request: { method: string; params?: unknown }) => {
    requests.push(request.method);
    try {
      return { result: (await handle(request.method, request.params)) ?? null };
    } catch (error) {
      const e = toProviderError(error);
      return { error: { code: e.code, message: e.message, data: e.data } };
    }
  });
  await page.addInitScript(pageScript({ uuid: "6f9a4c1e-3b8d-4e51-9a2f-70c6d5e8b413", name: "PRSM Test Wallet", icon: ICON, rdns: "dev.prsm.testwallet" }));

  return {
    address: account.address,
    get signatures() {
      return signatures;
    },
    get transactions() {
      return transactions;
    },
    get requests() {
      return requests;
    },
    get hashes() {
      return hashes;
    },
    get chainId() {
      return current;
    },
    rejectNext(method?: string) {
      rejections.push(method);
    },
    async setChain(chainId: number) {
      await moveTo(chainId);
    },
    async switchTo(chainId: number) {
      if (!known.has(chainId)) throw new Error(`the test wallet does not know chain ${chainId} (it knows ${[...known].join(", ")})`);
      await moveTo(chainId);
    },
    emit,
  };
}
