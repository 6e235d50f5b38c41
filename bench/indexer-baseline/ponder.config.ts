// The same chain, contracts, ABIs and start blocks as the real indexer (one configuration, no drift).
export { default } from "../../ponder.config";
