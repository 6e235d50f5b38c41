/** One measured operation: PRSM's figure and, where a reference implementation exists, the reference's. */
export interface GasRow {
  operation: string;
  gas: bigint;
  reference?: bigint;
  /** Upper bound the issue sets, as a ratio to the reference (1.05 = at most 5% more) or an absolute gas figure. */
  target?: { maxRatio: number } | { maxGas: bigint };
  note?: string;
}

export interface GasSection {
  title: string;
  referenceName?: string;
  description: string;
  rows: GasRow[];
  /** Findings worth reading next to the table (why a figure is what it is). */
  notes?: string[];
}

export function meetsTarget(row: GasRow): boolean | undefined {
  if (!row.target) return undefined;
  if ("maxGas" in row.target) return row.gas <= row.target.maxGas;
  if (row.reference === undefined) return undefined;
  return Number(row.gas) <= Number(row.reference) * row.target.maxRatio;
}
