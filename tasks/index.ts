// Hardhat tasks for people using PRSM from a terminal. Each concern has its own module.
import "./deploy";
import "./committee";
import "./governance";
import "./marketplace";
import "./query";
import "./abis";
import "./verify";
