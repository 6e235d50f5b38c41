// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IUsageAttestationVerifier} from "../interfaces/IUsageAttestationVerifier.sol";

/// @notice Test-only stand-in for the federation committee in marketplace unit tests: accepts exactly the usage
/// reports a test approved. The committee's own tests cover real quorum verification.
contract MockAttestationVerifier is IUsageAttestationVerifier {
    error MockAttestationRejected(uint256 escrowId, uint256 cumulativeUnits, uint64 sequence);
    error MockBatchRejected(bytes32 entriesHash);

    mapping(bytes32 report => bool) public approved;

    function approve(uint256 escrowId, uint256 cumulativeUnits, uint64 sequence, bytes32 resultDigest) external {
        approved[keccak256(abi.encode(escrowId, cumulativeUnits, sequence, resultDigest))] = true;
    }

    function approveBatch(bytes32 entriesHash) external {
        approved[entriesHash] = true;
    }

    function verifyBatchAttestation(bytes32 entriesHash, bytes calldata) external view {
        if (!approved[entriesHash]) revert MockBatchRejected(entriesHash);
    }

    function verifyUsageAttestation(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        bytes calldata
    ) external view {
        if (!approved[keccak256(abi.encode(escrowId, cumulativeUnits, sequence, resultDigest))]) {
            revert MockAttestationRejected(escrowId, cumulativeUnits, sequence);
        }
    }
}
