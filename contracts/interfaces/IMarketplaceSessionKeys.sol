// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title PRSM marketplace session keys
/// @notice A renter may authorize keys (e.g. generated in a browser) to sign for one escrow in its place, so a wallet
/// user signs once (the permit that opens the escrow) and a session key signs each query's `UsageAuthorization` and
/// each `UsageReceipt` acknowledgement. On chain a session key can only sign receipts for its escrow
/// ({IModelMarketplace-chargeWithReceipt}); closing by agreement still needs the renter's own signature.
///
/// Scope of a key, and why revocation does not void receipts: {IModelMarketplace-chargeWithReceipt} accepts a
/// receipt signed by any key ever authorized for the escrow, revoked or not, so a provider holding a receipt that a
/// key signed before its revocation can still charge it (otherwise a renter could take service, then revoke to
/// cancel payment). A leaked key can therefore charge at most the escrow's remaining spend cap (spendCap - charged),
/// and only to that escrow's listing's provider; revocation tells off-chain parties (gateways, committee nodes) to
/// stop accepting the key's query authorizations (they accept deadlines up to `revokedAt` + 600 s).
interface IMarketplaceSessionKeys {
    /// @notice `authorized` never goes back to false once set; `revokedAt` is 0 until revoked (then the block time).
    struct SessionKeyState {
        bool authorized;
        uint48 revokedAt;
    }

    event SessionKeyAuthorized(uint256 indexed escrowId, address indexed key);
    event SessionKeyRevoked(uint256 indexed escrowId, address indexed key, uint48 revokedAt);

    /// @notice `key` is the zero address or the escrow's renter itself.
    error InvalidSessionKey(address key);
    /// @notice A key is authorized at most once per escrow (a revoked key cannot be authorized again).
    error SessionKeyAlreadyAuthorized(uint256 escrowId, address key);
    /// @notice The key was never authorized for the escrow, or is already revoked.
    error SessionKeyNotActive(uint256 escrowId, address key);

    /// @notice {IModelMarketplace-openEscrowWithPermit} (same permit handling: a permit already used is ignored if the
    /// allowance suffices) that also authorizes `sessionKey` for the new escrow. Emits {SessionKeyAuthorized} just
    /// before {IModelMarketplace-EscrowOpened}.
    function openEscrowWithSessionKey(
        uint256 listingId,
        uint96 deposit,
        uint96 spendCap,
        uint48 expiresAt,
        uint96 maxPricePerUnit,
        address sessionKey,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 escrowId);

    /// @notice The escrow's renter authorizes `key` to sign for the escrow (open escrows only). A leaked key can charge
    /// at most the escrow's remaining spend cap, by receipts, even after it is revoked (see the contract notice).
    function authorizeSessionKey(uint256 escrowId, address key) external;

    /// @notice The escrow's renter revokes `key` (recorded as `revokedAt` = now). Receipts the key signed stay
    /// chargeable; off-chain parties stop accepting its authorizations whose deadline is past `revokedAt` + 600 s.
    function revokeSessionKey(uint256 escrowId, address key) external;

    function sessionKey(uint256 escrowId, address key) external view returns (bool authorized, uint48 revokedAt);
}
