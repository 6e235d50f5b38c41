/**
 * The demo provider's model: real, small, offline, deterministic text analysis with wink-nlp and its English model
 * (both ship inside npm packages). For a text it computes sentiment, named entities (dates, numbers, money, ...),
 * keywords (the most frequent content-word lemmas) and an extractive summary (sentences ranked by the keyword weight
 * they carry). Embeddings are feature-hashed bags of lemmas (256 dimensions, L2-normalised): simple, but a real
 * function of the text. Tokens are wink's tokens, which is what the gateway meters.
 */
import winkNLP, { type ItemToken } from "wink-nlp";
import model from "wink-eng-lite-web-model";

const nlp = winkNLP(model);
const its = nlp.its;
// The lemma accessor is typed as needing add-ons; the English model provides them.
const LEMMA = its.lemma as unknown as typeof its.normal;

export const DEMO_MODEL_ID = "prsm-demo-nlp";
export const EMBEDDING_DIMENSIONS = 256;

export interface TextAnalysis {
  sentiment: number;
  entities: { value: string; type: string }[];
  keywords: string[];
  summary: string[];
  sentences: number;
  tokens: number;
}

/** Number of tokens wink-nlp sees in `text` (words, numbers, punctuation). */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : nlp.readDoc(text).tokens().length();
}

function contentLemmas(doc: ReturnType<typeof nlp.readDoc>): string[] {
  const lemmas: string[] = [];
  doc.tokens().each((t: ItemToken) => {
    if (t.out(its.type) === "word" && !t.out(its.stopWordFlag)) lemmas.push(String(t.out(LEMMA)).toLowerCase());
  });
  return lemmas;
}

export function analyse(text: string, options: { keywords?: number; summarySentences?: number } = {}): TextAnalysis {
  const doc = nlp.readDoc(text);
  const lemmas = contentLemmas(doc);
  const frequency = new Map<string, number>();
  for (const l of lemmas) frequency.set(l, (frequency.get(l) ?? 0) + 1);
  // Ties broken alphabetically so the answer is a pure function of the text.
  const keywords = [...frequency.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, options.keywords ?? 5)
    .map(([word]) => word);

  const sentences: { text: string; index: number; score: number }[] = [];
  doc.sentences().each((s, index) => {
    let score = 0;
    s.tokens().each((t: ItemToken) => {
      if (t.out(its.type) === "word" && !t.out(its.stopWordFlag)) score += frequency.get(String(t.out(LEMMA)).toLowerCase()) ?? 0;
    });
    sentences.push({ text: s.out(), index, score });
  });
  const summary = [...sentences]
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, options.summarySentences ?? 2)
    .sort((a, b) => a.index - b.index)
    .map((s) => s.text);

  const entities = (doc.entities().out(its.detail) as unknown as { value: string; type: string }[]).map((e) => ({ value: e.value, type: e.type }));
  return {
    sentiment: Math.round(Number(doc.out(its.sentiment)) * 1000) / 1000,
    entities,
    keywords,
    summary,
    sentences: sentences.length,
    tokens: doc.tokens().length(),
  };
}

/** The chat answer: a readable report of the analysis of the last user message. */
export function answer(text: string): string {
  const a = analyse(text);
  const mood = a.sentiment > 0.1 ? "positive" : a.sentiment < -0.1 ? "negative" : "neutral";
  const lines = [
    `Sentiment: ${mood} (${a.sentiment})`,
    `Keywords: ${a.keywords.join(", ") || "(none)"}`,
    `Entities: ${a.entities.map((e) => `${e.value} [${e.type}]`).join(", ") || "(none)"}`,
    `Summary: ${a.summary.join(" ") || "(empty text)"}`,
  ];
  return lines.join("\n");
}

/** FNV-1a, so a lemma always lands in the same dimension on every machine. */
function bucket(word: string): { index: number; sign: number } {
  let h = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) {
    h ^= word.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return { index: h % EMBEDDING_DIMENSIONS, sign: h & 0x80000000 ? -1 : 1 };
}

export function embed(text: string): number[] {
  const vector = new Array<number>(EMBEDDING_DIMENSIONS).fill(0);
  for (const lemma of contentLemmas(nlp.readDoc(text))) {
    const { index, sign } = bucket(lemma);
    vector[index]! += sign;
  }
  const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0));
  return norm === 0 ? vector : vector.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}
