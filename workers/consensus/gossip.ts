/** Best-effort fan-out to peer nodes over HTTP: bounded by a timeout, failures logged, never thrown. */
import type { Logger } from "../shared/logger";

export class Gossip {
  constructor(
    private readonly peers: string[],
    private readonly log: Logger,
    private readonly timeoutMs = 2_000,
  ) {}

  broadcast(path: string, body: unknown): void {
    const payload = JSON.stringify(body);
    for (const peer of this.peers) {
      fetch(`${peer}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
      })
        .then((res) => res.body?.cancel())
        .catch((error: Error) => this.log.debug({ peer, err: error.message }, "peer unreachable"));
    }
  }
}
