/** The node's Prometheus metrics (GET /metrics), one registry per process. */
import client from "prom-client";

export class NodeMetrics {
  readonly registry = new client.Registry();
  readonly reportsAccepted = new client.Counter({ name: "prsm_node_reports_accepted_total", help: "Usage reports accepted (validated and kept)", registers: [this.registry] });
  readonly reportsRejected = new client.Counter({
    name: "prsm_node_reports_rejected_total",
    help: "Usage reports refused, by reason",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly proposalsRejected = new client.Counter({
    name: "prsm_node_proposals_rejected_total",
    help: "Batch proposals from peers refused, by reason",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly pending = new client.Gauge({ name: "prsm_node_pending_escrows", help: "Escrows with unsettled usage held", registers: [this.registry] });
  readonly batchesSigned = new client.Counter({ name: "prsm_node_batches_signed_total", help: "Batches (or single reports) this node attested", registers: [this.registry] });
  readonly batchesSubmitted = new client.Counter({
    name: "prsm_node_batches_submitted_total",
    help: "Settlement transactions this node sent, by outcome",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly entriesSettled = new client.Counter({ name: "prsm_node_entries_settled_total", help: "Escrow entries in batches this node settled", registers: [this.registry] });
  readonly gasSpent = new client.Counter({ name: "prsm_node_gas_spent_total", help: "Gas used by this node's settlement transactions", registers: [this.registry] });
  readonly settlementLag = new client.Histogram({
    name: "prsm_node_settlement_lag_seconds",
    help: "From a node first holding an escrow's unsettled usage to its settlement by this node",
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  readonly chainLagBlocks = new client.Gauge({ name: "prsm_node_log_scan_lag_blocks", help: "Blocks between the chain head and the settlement scan", registers: [this.registry] });
  readonly equivocations = new client.Counter({ name: "prsm_node_equivocations_proven_total", help: "Equivocation proofs sent", registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: "prsm_node_" });
  }
}
