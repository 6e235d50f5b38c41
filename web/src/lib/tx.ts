/**
 * `useTx()`: writes a contract through the connected wallet (wagmi), simulating first so a revert is explained before
 * the wallet opens, waits for the receipt, and refreshes every cached query (GraphQL and chain reads) once it is mined
 * (and again shortly after, when the indexer has caught up).
 *
 *   const tx = useTx();
 *   await tx.send({ address, abi, functionName: "closeEscrow", args: [id] });
 *   tx.status   "idle" | "pending" | "confirmed" | "failed"    tx.error  explain()ed sentence    tx.hash / tx.receipt
 */
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import type { Abi, Hash, TransactionReceipt } from "viem";
import { useConfig } from "wagmi";
import { getConnection, simulateContract, waitForTransactionReceipt, writeContract } from "wagmi/actions";
import { currentConfig } from "./config";
import { explain, MESSAGES } from "./errors";

export type TxStatus = "idle" | "pending" | "confirmed" | "failed";

export interface TxRequest {
  address: `0x${string}`;
  abi: Abi | readonly unknown[];
  functionName: string;
  args?: readonly unknown[];
}

export interface TxState {
  status: TxStatus;
  /** While pending: "wallet" (waiting for the wallet) or "mining" (sent, waiting for the receipt). */
  phase?: "wallet" | "mining";
  error?: string;
  hash?: Hash;
  receipt?: TransactionReceipt;
}

export function useTx() {
  const wagmiConfig = useConfig();
  const queryClient = useQueryClient();
  const [state, setState] = useState<TxState>({ status: "idle" });

  const send = useCallback(
    async (request: TxRequest, options: { onConfirmed?: (receipt: TransactionReceipt) => void } = {}): Promise<TransactionReceipt | undefined> => {
      setState({ status: "pending", phase: "wallet" });
      try {
        const connection = getConnection(wagmiConfig);
        if (!connection.address) throw new Error(MESSAGES.notConnected);
        const chainId = currentConfig().chainId;
        if (connection.chainId !== chainId) throw new Error(MESSAGES.wrongChain);
        const { request: prepared } = await simulateContract(wagmiConfig, {
          ...(request as never as Parameters<typeof simulateContract>[1]),
          account: connection.address,
          chainId,
        } as never);
        const hash = await writeContract(wagmiConfig, prepared as never);
        setState({ status: "pending", phase: "mining", hash });
        const receipt = await waitForTransactionReceipt(wagmiConfig, { hash, chainId });
        if (receipt.status !== "success") throw new Error(`The transaction ${hash} was mined but reverted.`);
        setState({ status: "confirmed", hash, receipt });
        options.onConfirmed?.(receipt);
        void queryClient.invalidateQueries();
        setTimeout(() => void queryClient.invalidateQueries(), 1_500);
        return receipt;
      } catch (error) {
        setState((s) => ({ status: "failed", hash: s.hash, error: explain(error) }));
        return undefined;
      }
    },
    [wagmiConfig, queryClient],
  );

  const reset = useCallback(() => setState({ status: "idle" }), []);
  return { ...state, send, reset };
}
