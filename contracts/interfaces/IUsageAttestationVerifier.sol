// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Usage attestation verifier
/// @notice What the marketplace asks before charging an escrow on the federation's word instead of the renter's
/// signature. The federation committee implements it: `attestation` carries a quorum (2f+1) of member signatures.
interface IUsageAttestationVerifier {
    /// @notice Reverts unless `attestation` proves that a quorum of the committee attested that escrow `escrowId`
    /// consumed `cumulativeUnits` in total as of report `sequence`, producing results hashed to `resultDigest`.
    function verifyUsageAttestation(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        bytes calldata attestation
    ) external view;

    /// @notice Reverts unless `attestation` proves that a quorum of the committee signed the batch of usage entries
    /// hashed to `entriesHash` (keccak256 of the packed entry words) for the calling marketplace.
    function verifyBatchAttestation(bytes32 entriesHash, bytes calldata attestation) external view;
}
