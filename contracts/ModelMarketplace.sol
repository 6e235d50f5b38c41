// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {ReentrancyGuardTransientUpgradeable} from
    "@openzeppelin/contracts-upgradeable/utils/ReentrancyGuardTransientUpgradeable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IModelMarketplace} from "./interfaces/IModelMarketplace.sol";
import {IUsageAttestationVerifier} from "./interfaces/IUsageAttestationVerifier.sol";

/// @title ModelMarketplace
/// @notice See {IModelMarketplace}. Functions follow one order: checks, state changes, events, external calls.
/// @custom:security-contact security@prsm.example
contract ModelMarketplace is
    IModelMarketplace,
    Initializable,
    AccessControlUpgradeable,
    EIP712Upgradeable,
    ReentrancyGuardTransientUpgradeable,
    UUPSUpgradeable
{
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");
    /// @notice May resolve disputed charges (the timelock, or an arbitration council it appoints).
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");

    /// @inheritdoc IModelMarketplace
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    /// @inheritdoc IModelMarketplace
    uint16 public constant MAX_ROYALTY_BPS = 1_000;
    uint16 private constant BPS = 10_000;

    bytes32 private constant RECEIPT_TYPEHASH =
        keccak256("UsageReceipt(uint256 escrowId,uint256 cumulativeUnits,uint64 sequence,uint256 deadline)");
    bytes32 private constant CLOSE_TYPEHASH = keccak256("CloseEscrow(uint256 escrowId,uint256 deadline)");

    /// @notice The FTNS token. Immutable in the implementation (every proxy of it uses the same token), which
    /// saves a storage read on every deposit, refund and payout; an upgrade must be constructed with the same token.
    /// @custom:oz-upgrades-unsafe-allow state-variable-immutable
    IERC20 private immutable TOKEN;

    /// @dev Packed by use: the charge path reads one configuration slot (treasury, fee, grace), the attested path
    /// one more (verifier, window), opening an escrow the counters' slot.
    /// @custom:storage-location erc7201:prsm.storage.ModelMarketplace
    struct MarketplaceStorage {
        address treasury;
        uint16 protocolFeeBps;
        uint48 settlementGrace;
        uint8 categoryCount;
        IUsageAttestationVerifier verifier;
        uint48 disputeWindow;
        uint32 listingCount;
        uint96 minProviderBond;
        uint64 escrowCount;
        uint64 chargeCount;
        uint48 unbondingDelay;
        mapping(uint256 listingId => Listing) listings;
        mapping(uint256 escrowId => Escrow) escrows;
        mapping(uint256 chargeId => Charge) charges;
        mapping(address account => uint256) payouts;
        mapping(uint8 category => bytes32) categoryNames;
    }

    // keccak256(abi.encode(uint256(keccak256("prsm.storage.ModelMarketplace")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x59cc3643a2224799e59cdb6297ffb4bebe1e70aaf4f928458e3947f56f11db00;

    function _getStorage() private pure returns (MarketplaceStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }

    struct InitParams {
        address admin;
        address treasury;
        uint16 protocolFeeBps;
        uint96 minProviderBond;
        uint48 disputeWindow;
        uint48 unbondingDelay;
        uint48 settlementGrace;
        address attestationVerifier;
        bytes32[] categories;
    }

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(address token_) {
        if (token_ == address(0)) revert MarketplaceZeroAddress("token");
        TOKEN = IERC20(token_);
        _disableInitializers();
    }

    function initialize(InitParams calldata p) external initializer {
        if (p.admin == address(0)) revert MarketplaceZeroAddress("admin");
        __AccessControl_init();
        __EIP712_init(_EIP712Name(), _EIP712Version());
        __ReentrancyGuardTransient_init();
        __UUPSUpgradeable_init();

        _grantRole(DEFAULT_ADMIN_ROLE, p.admin);
        _grantRole(UPGRADER_ROLE, p.admin);
        _grantRole(ARBITER_ROLE, p.admin);
        _setTreasury(p.treasury);
        _setProtocolFee(p.protocolFeeBps);
        _setMinProviderBond(p.minProviderBond);
        _setDisputeWindow(p.disputeWindow);
        _setUnbondingDelay(p.unbondingDelay);
        _setSettlementGrace(p.settlementGrace);
        _getStorage().verifier = IUsageAttestationVerifier(p.attestationVerifier);
        emit AttestationVerifierUpdated(address(0), p.attestationVerifier);
        for (uint256 i = 0; i < p.categories.length; ++i) {
            _addCategory(p.categories[i]);
        }
    }

    // ================================================================ providers

    /// @inheritdoc IModelMarketplace
    function list(
        bytes32 contentHash,
        string calldata metadataURI,
        uint8 category,
        BillingUnit unit,
        uint96 pricePerUnit,
        address royaltyRecipient,
        uint16 royaltyBps,
        uint96 bond
    ) external nonReentrant returns (uint256 listingId) {
        MarketplaceStorage storage $ = _getStorage();
        if (category >= $.categoryCount) revert InvalidCategory(category, $.categoryCount);
        if (pricePerUnit == 0) revert InvalidPrice(pricePerUnit);
        if (royaltyBps > MAX_ROYALTY_BPS || (royaltyBps > 0 && royaltyRecipient == address(0))) {
            revert InvalidRoyalty(royaltyRecipient, royaltyBps, MAX_ROYALTY_BPS);
        }
        if (bond < $.minProviderBond) revert BondTooLow(bond, $.minProviderBond);

        listingId = ++$.listingCount;
        Listing storage listing = $.listings[listingId];
        listing.provider = msg.sender;
        listing.pricePerUnit = pricePerUnit;
        listing.royaltyRecipient = royaltyRecipient;
        listing.royaltyBps = royaltyBps;
        listing.category = category;
        listing.unit = unit;
        listing.status = ListingStatus.Active;
        listing.bond = bond;
        listing.contentHash = contentHash;
        listing.metadataURI = metadataURI;
        emit Listed(
            listingId,
            msg.sender,
            category,
            contentHash,
            metadataURI,
            unit,
            pricePerUnit,
            royaltyRecipient,
            royaltyBps,
            bond
        );

        TOKEN.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @inheritdoc IModelMarketplace
    function setPrice(uint256 listingId, uint96 newPrice) external {
        Listing storage listing = _providerListing(listingId);
        if (listing.status == ListingStatus.Delisted) revert ListingIsDelisted(listingId);
        if (newPrice == 0) revert InvalidPrice(newPrice);

        uint256 oldPrice = listing.pricePerUnit;
        listing.pricePerUnit = newPrice;
        emit PriceUpdated(listingId, oldPrice, newPrice);
    }

    /// @inheritdoc IModelMarketplace
    function setListingActive(uint256 listingId, bool active) external {
        Listing storage listing = _providerListing(listingId);
        if (listing.status == ListingStatus.Delisted) revert ListingIsDelisted(listingId);

        listing.status = active ? ListingStatus.Active : ListingStatus.Paused;
        emit ListingStatusChanged(listingId, listing.status, 0);
    }

    /// @inheritdoc IModelMarketplace
    function addBond(uint256 listingId, uint96 amount) external nonReentrant {
        Listing storage listing = _providerListing(listingId);
        if (listing.status == ListingStatus.Delisted) revert ListingIsDelisted(listingId);

        uint96 total = listing.bond + amount;
        listing.bond = total;
        emit BondAdded(listingId, amount, total);

        TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IModelMarketplace
    function delist(uint256 listingId) external {
        Listing storage listing = _providerListing(listingId);
        if (listing.status == ListingStatus.Delisted) revert ListingIsDelisted(listingId);

        uint48 unbondingAt = uint48(block.timestamp) + _getStorage().unbondingDelay;
        listing.status = ListingStatus.Delisted;
        listing.unbondingAt = unbondingAt;
        emit ListingStatusChanged(listingId, ListingStatus.Delisted, unbondingAt);
    }

    /// @inheritdoc IModelMarketplace
    function withdrawBond(uint256 listingId) external nonReentrant {
        Listing storage listing = _providerListing(listingId);
        if (
            listing.status != ListingStatus.Delisted || block.timestamp < listing.unbondingAt
                || listing.openEscrows != 0
        ) revert BondLocked(listingId, listing.unbondingAt, listing.openEscrows);

        uint256 amount = listing.bond;
        listing.bond = 0;
        emit BondWithdrawn(listingId, msg.sender, amount);

        TOKEN.safeTransfer(msg.sender, amount);
    }

    // ================================================================ escrows

    /// @inheritdoc IModelMarketplace
    /// @dev No reentrancy guard on the two open paths (it costs ~400 gas of a 160k budget): they record the escrow
    /// completely before their only outgoing call, FTNS.transferFrom, and FTNS has no transfer hooks. Paths that send
    /// tokens out (close, withdraw, withdrawBond) keep the guard.
    function openEscrow(uint256 listingId, uint96 deposit, uint96 spendCap, uint48 expiresAt)
        external
        returns (uint256)
    {
        return _openEscrow(listingId, deposit, spendCap, expiresAt);
    }

    /// @inheritdoc IModelMarketplace
    function openEscrowWithPermit(
        uint256 listingId,
        uint96 deposit,
        uint96 spendCap,
        uint48 expiresAt,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256) {
        // A failed permit (already used, e.g. front-run from the mempool) is fine if the allowance is there;
        // otherwise the transfer in _openEscrow reverts with the token's allowance error.
        try IERC20Permit(address(TOKEN)).permit(
            msg.sender, address(this), deposit, permitDeadline, v, r, s
        ) {} catch {}
        return _openEscrow(listingId, deposit, spendCap, expiresAt);
    }

    function _openEscrow(uint256 listingId, uint96 deposit, uint96 spendCap, uint48 expiresAt)
        private
        returns (uint256 escrowId)
    {
        MarketplaceStorage storage $ = _getStorage();
        Listing storage listing = $.listings[listingId];
        if (listing.status != ListingStatus.Active || listing.bond < $.minProviderBond) {
            revert ListingNotRentable(listingId, listing.status, listing.bond, $.minProviderBond);
        }
        if (spendCap == 0 || spendCap > deposit) revert InvalidDeposit(deposit, spendCap);
        if (expiresAt <= block.timestamp) revert InvalidExpiry(expiresAt);

        escrowId = ++$.escrowCount;
        uint96 price = listing.pricePerUnit;
        $.escrows[escrowId] = Escrow({
            renter: msg.sender,
            listingId: uint32(listingId),
            expiresAt: expiresAt,
            status: EscrowStatus.Open,
            rated: false,
            deposit: deposit,
            charged: 0,
            sequence: 0,
            pricePerUnit: price,
            spendCap: spendCap
        });
        // Cannot overflow in practice: one open escrow per 4e9 would need more gas than exists.
        unchecked {
            ++listing.openEscrows;
        }
        emit EscrowOpened(escrowId, listingId, msg.sender, listing.provider, deposit, spendCap, price, expiresAt);

        TOKEN.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @inheritdoc IModelMarketplace
    function chargeWithReceipt(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 amount) {
        Escrow storage escrow = _openEscrowAt(escrowId);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(RECEIPT_TYPEHASH, escrowId, cumulativeUnits, sequence, deadline)));
        address renter = escrow.renter;
        if (!SignatureChecker.isValidSignatureNow(renter, digest, signature)) {
            revert InvalidSignature(escrowId, renter);
        }

        uint256 units;
        (amount, units) = _recordUsage(escrowId, escrow, cumulativeUnits, sequence);
        emit UsageCharged(escrowId, 0, sequence, cumulativeUnits, units, amount, false, bytes32(0), 0);
        _settle(escrowId, 0, escrow.listingId, amount);
    }

    /// @inheritdoc IModelMarketplace
    function chargeWithAttestation(
        uint256 escrowId,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest,
        bytes calldata attestation
    ) external returns (uint256 chargeId) {
        MarketplaceStorage storage $ = _getStorage();
        Escrow storage escrow = _openEscrowAt(escrowId);
        if (address($.verifier) == address(0)) revert AttestationVerifierNotSet();
        $.verifier.verifyUsageAttestation(escrowId, cumulativeUnits, sequence, resultDigest, attestation);

        (uint256 amount, uint256 units) = _recordUsage(escrowId, escrow, cumulativeUnits, sequence);
        chargeId = _holdCharge(escrowId, amount, units, cumulativeUnits, sequence, resultDigest);
    }

    /// @dev Records an attested charge as pending for the dispute window (split out of chargeWithAttestation
    /// to keep the stack shallow).
    function _holdCharge(
        uint256 escrowId,
        uint256 amount,
        uint256 units,
        uint256 cumulativeUnits,
        uint64 sequence,
        bytes32 resultDigest
    ) private returns (uint256 chargeId) {
        MarketplaceStorage storage $ = _getStorage();
        chargeId = ++$.chargeCount;
        uint48 disputableUntil = uint48(block.timestamp) + $.disputeWindow;
        $.charges[chargeId] = Charge({
            escrowId: uint64(escrowId),
            amount: uint96(amount),
            disputableUntil: disputableUntil,
            status: ChargeStatus.Pending
        });
        emit UsageCharged(escrowId, chargeId, sequence, cumulativeUnits, units, amount, true, resultDigest, disputableUntil);
    }

    /// @inheritdoc IModelMarketplace
    function releaseCharge(uint256 chargeId) external {
        Charge storage charge = _chargeAt(chargeId);
        if (charge.status != ChargeStatus.Pending) revert ChargeNotPending(chargeId, charge.status);
        if (block.timestamp <= charge.disputableUntil) revert DisputeWindowOpen(chargeId, charge.disputableUntil);

        charge.status = ChargeStatus.Released;
        uint256 escrowId = charge.escrowId;
        _settle(escrowId, chargeId, _getStorage().escrows[escrowId].listingId, charge.amount);
    }

    /// @inheritdoc IModelMarketplace
    function disputeCharge(uint256 chargeId) external {
        Charge storage charge = _chargeAt(chargeId);
        uint256 escrowId = charge.escrowId;
        if (_getStorage().escrows[escrowId].renter != msg.sender) revert NotEscrowRenter(escrowId, msg.sender);
        if (charge.status != ChargeStatus.Pending) revert ChargeNotPending(chargeId, charge.status);
        if (block.timestamp > charge.disputableUntil) revert DisputeWindowClosed(chargeId, charge.disputableUntil);

        charge.status = ChargeStatus.Disputed;
        emit ChargeDisputed(chargeId, escrowId, msg.sender);
    }

    /// @inheritdoc IModelMarketplace
    function resolveDispute(uint256 chargeId, bool payProvider) external onlyRole(ARBITER_ROLE) {
        Charge storage charge = _chargeAt(chargeId);
        if (charge.status != ChargeStatus.Disputed) revert ChargeNotDisputed(chargeId, charge.status);

        uint256 escrowId = charge.escrowId;
        uint256 amount = charge.amount;
        Escrow storage escrow = _getStorage().escrows[escrowId];
        emit DisputeResolved(chargeId, escrowId, payProvider, amount, msg.sender);
        if (payProvider) {
            charge.status = ChargeStatus.Released;
            _settle(escrowId, chargeId, escrow.listingId, amount);
        } else {
            charge.status = ChargeStatus.Refunded;
            _getStorage().payouts[escrow.renter] += amount;
        }
    }

    /// @inheritdoc IModelMarketplace
    function closeEscrow(uint256 escrowId) external nonReentrant {
        Escrow storage escrow = _openEscrowAt(escrowId);
        uint48 closableAt = escrow.expiresAt + _getStorage().settlementGrace;
        if (block.timestamp <= closableAt) revert EscrowNotClosable(escrowId, closableAt);
        _close(escrowId, escrow, false);
    }

    /// @inheritdoc IModelMarketplace
    function closeEscrowByAgreement(uint256 escrowId, uint256 deadline, bytes calldata signature)
        external
        nonReentrant
    {
        Escrow storage escrow = _openEscrowAt(escrowId);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        address renter = escrow.renter;
        address provider = _getStorage().listings[escrow.listingId].provider;
        address counterparty;
        if (msg.sender == renter) counterparty = provider;
        else if (msg.sender == provider) counterparty = renter;
        else revert NotEscrowParty(escrowId, msg.sender);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CLOSE_TYPEHASH, escrowId, deadline)));
        if (!SignatureChecker.isValidSignatureNow(counterparty, digest, signature)) {
            revert InvalidSignature(escrowId, counterparty);
        }
        _close(escrowId, escrow, true);
    }

    /// @inheritdoc IModelMarketplace
    function rate(uint256 escrowId, uint8 score) external {
        MarketplaceStorage storage $ = _getStorage();
        Escrow storage escrow = $.escrows[escrowId];
        if (escrow.renter != msg.sender) revert NotEscrowRenter(escrowId, msg.sender);
        if (escrow.status != EscrowStatus.Closed) revert EscrowNotClosed(escrowId);
        if (escrow.rated) revert AlreadyRated(escrowId);
        if (score < 1 || score > 5) revert InvalidScore(score);

        escrow.rated = true;
        Listing storage listing = $.listings[escrow.listingId];
        // Cannot overflow: at most one rating (<= 5) per escrow, and escrows per listing fit in uint32 counts.
        unchecked {
            listing.ratingCount += 1;
            listing.ratingSum += score;
        }
        emit Rated(escrowId, escrow.listingId, msg.sender, score);
    }

    /// @inheritdoc IModelMarketplace
    function withdraw() external nonReentrant returns (uint256) {
        return _withdraw(msg.sender);
    }

    /// @inheritdoc IModelMarketplace
    function withdrawFor(address account) external nonReentrant returns (uint256) {
        return _withdraw(account);
    }

    // ================================================================ governance

    /// @inheritdoc IModelMarketplace
    function setProtocolFee(uint16 bps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setProtocolFee(bps);
    }

    /// @inheritdoc IModelMarketplace
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(newTreasury);
    }

    /// @inheritdoc IModelMarketplace
    function setMinProviderBond(uint96 bond) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinProviderBond(bond);
    }

    /// @inheritdoc IModelMarketplace
    function setDisputeWindow(uint48 window) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDisputeWindow(window);
    }

    /// @inheritdoc IModelMarketplace
    function setUnbondingDelay(uint48 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingDelay(delay);
    }

    /// @inheritdoc IModelMarketplace
    function setSettlementGrace(uint48 grace) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setSettlementGrace(grace);
    }

    /// @inheritdoc IModelMarketplace
    function setAttestationVerifier(address verifier) external onlyRole(DEFAULT_ADMIN_ROLE) {
        MarketplaceStorage storage $ = _getStorage();
        emit AttestationVerifierUpdated(address($.verifier), verifier);
        $.verifier = IUsageAttestationVerifier(verifier);
    }

    /// @inheritdoc IModelMarketplace
    function addCategory(bytes32 name) external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint8) {
        return _addCategory(name);
    }

    // ================================================================ views

    function token() external view returns (address) {
        return address(TOKEN);
    }

    function treasury() external view returns (address) {
        return _getStorage().treasury;
    }

    function protocolFeeBps() external view returns (uint16) {
        return _getStorage().protocolFeeBps;
    }

    function minProviderBond() external view returns (uint256) {
        return _getStorage().minProviderBond;
    }

    function disputeWindow() external view returns (uint48) {
        return _getStorage().disputeWindow;
    }

    function unbondingDelay() external view returns (uint48) {
        return _getStorage().unbondingDelay;
    }

    function settlementGrace() external view returns (uint48) {
        return _getStorage().settlementGrace;
    }

    function attestationVerifier() external view returns (address) {
        return address(_getStorage().verifier);
    }

    function categoryCount() external view returns (uint8) {
        return _getStorage().categoryCount;
    }

    function categoryName(uint8 category) external view returns (bytes32) {
        return _getStorage().categoryNames[category];
    }

    function getListing(uint256 listingId) external view returns (Listing memory) {
        return _getStorage().listings[listingId];
    }

    function getEscrow(uint256 escrowId) external view returns (Escrow memory) {
        return _getStorage().escrows[escrowId];
    }

    function getCharge(uint256 chargeId) external view returns (Charge memory) {
        return _getStorage().charges[chargeId];
    }

    function payoutOf(address account) external view returns (uint256) {
        return _getStorage().payouts[account];
    }

    function listingCount() external view returns (uint256) {
        return _getStorage().listingCount;
    }

    function escrowCount() external view returns (uint256) {
        return _getStorage().escrowCount;
    }

    function chargeCount() external view returns (uint256) {
        return _getStorage().chargeCount;
    }

    // ================================================================ internals

    function _providerListing(uint256 listingId) private view returns (Listing storage listing) {
        listing = _getStorage().listings[listingId];
        if (listing.status == ListingStatus.None) revert ListingNotFound(listingId);
        if (listing.provider != msg.sender) revert NotListingProvider(listingId, msg.sender);
    }

    function _openEscrowAt(uint256 escrowId) private view returns (Escrow storage escrow) {
        escrow = _getStorage().escrows[escrowId];
        if (escrow.status != EscrowStatus.Open) {
            if (escrow.status == EscrowStatus.None) revert EscrowNotFound(escrowId);
            revert EscrowNotOpen(escrowId);
        }
    }

    function _chargeAt(uint256 chargeId) private view returns (Charge storage charge) {
        charge = _getStorage().charges[chargeId];
        if (charge.status == ChargeStatus.None) revert ChargeNotFound(chargeId);
    }

    /// @dev Validates a cumulative usage report against the escrow and books its new units. Units already
    /// charged are `charged / pricePerUnit` (every charge is a whole number of units at the escrow's fixed price).
    function _recordUsage(uint256 escrowId, Escrow storage escrow, uint256 cumulativeUnits, uint64 sequence)
        private
        returns (uint256 amount, uint256 units)
    {
        uint48 lastChargeAt = escrow.expiresAt + _getStorage().settlementGrace;
        if (block.timestamp > lastChargeAt) revert SettlementPeriodOver(escrowId, lastChargeAt);
        if (sequence <= escrow.sequence) revert StaleReceipt(escrowId, sequence, escrow.sequence);
        uint256 price = escrow.pricePerUnit;
        uint256 charged = escrow.charged;
        uint256 unitsCharged = charged / price;
        if (cumulativeUnits < unitsCharged) revert UnitsDecreased(escrowId, cumulativeUnits, unitsCharged);

        // Cannot underflow: checked just above.
        unchecked {
            units = cumulativeUnits - unitsCharged;
        }
        amount = units * price;
        uint256 available = escrow.spendCap - charged;
        if (amount > available) revert SpendCapExceeded(escrowId, amount, available);

        escrow.charged = uint96(charged + amount); // <= spendCap, a uint96
        escrow.sequence = sequence;
    }

    /// @dev Credits a charge's split as pull payments. The fee is rounded down, then the royalty; the provider gets
    /// the rest, so the three always add up to `amount`.
    function _settle(uint256 escrowId, uint256 chargeId, uint256 listingId, uint256 amount) private {
        MarketplaceStorage storage $ = _getStorage();
        Listing storage listing = $.listings[listingId];
        address provider = listing.provider;
        address feeRecipient = $.treasury;
        uint256 fee = amount * $.protocolFeeBps / BPS;
        uint256 royalty = amount * listing.royaltyBps / BPS;
        // The recipient's slot is only read when a royalty is due.
        address royaltyRecipient = royalty != 0 ? listing.royaltyRecipient : address(0);
        // Cannot underflow: fee + royalty <= amount * (MAX_PROTOCOL_FEE_BPS + MAX_ROYALTY_BPS) / BPS < amount.
        uint256 providerAmount;
        unchecked {
            providerAmount = amount - fee - royalty;
        }

        $.payouts[provider] += providerAmount;
        if (fee != 0) $.payouts[feeRecipient] += fee;
        if (royalty != 0) $.payouts[royaltyRecipient] += royalty;
        emit ChargeSettled(escrowId, chargeId, provider, providerAmount, feeRecipient, fee, royaltyRecipient, royalty);
    }

    function _close(uint256 escrowId, Escrow storage escrow, bool byAgreement) private {
        MarketplaceStorage storage $ = _getStorage();
        uint256 refund = escrow.deposit - escrow.charged;
        address renter = escrow.renter;
        escrow.status = EscrowStatus.Closed;
        // Cannot underflow: incremented when this escrow opened.
        unchecked {
            --$.listings[escrow.listingId].openEscrows;
        }
        emit EscrowClosed(escrowId, msg.sender, refund, byAgreement);

        if (refund != 0) TOKEN.safeTransfer(renter, refund);
    }

    function _withdraw(address account) private returns (uint256 amount) {
        MarketplaceStorage storage $ = _getStorage();
        amount = $.payouts[account];
        if (amount == 0) revert NothingToWithdraw(account);

        $.payouts[account] = 0;
        emit Withdrawn(account, amount);

        TOKEN.safeTransfer(account, amount);
    }

    function _setProtocolFee(uint16 bps) private {
        if (bps > MAX_PROTOCOL_FEE_BPS) revert FeeTooHigh(bps, MAX_PROTOCOL_FEE_BPS);
        MarketplaceStorage storage $ = _getStorage();
        emit ProtocolFeeUpdated($.protocolFeeBps, bps);
        $.protocolFeeBps = bps;
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert MarketplaceZeroAddress("treasury");
        MarketplaceStorage storage $ = _getStorage();
        emit TreasuryUpdated($.treasury, newTreasury);
        $.treasury = newTreasury;
    }

    function _setMinProviderBond(uint96 bond) private {
        MarketplaceStorage storage $ = _getStorage();
        emit MinProviderBondUpdated($.minProviderBond, bond);
        $.minProviderBond = bond;
    }

    function _setDisputeWindow(uint48 window) private {
        MarketplaceStorage storage $ = _getStorage();
        emit DisputeWindowUpdated($.disputeWindow, window);
        $.disputeWindow = window;
    }

    function _setUnbondingDelay(uint48 delay) private {
        MarketplaceStorage storage $ = _getStorage();
        emit UnbondingDelayUpdated($.unbondingDelay, delay);
        $.unbondingDelay = delay;
    }

    function _setSettlementGrace(uint48 grace) private {
        MarketplaceStorage storage $ = _getStorage();
        emit SettlementGraceUpdated($.settlementGrace, grace);
        $.settlementGrace = grace;
    }

    function _addCategory(bytes32 name) private returns (uint8 category) {
        MarketplaceStorage storage $ = _getStorage();
        category = $.categoryCount;
        $.categoryNames[category] = name;
        $.categoryCount = category + 1; // reverts past 255 categories
        emit CategoryAdded(category, name);
    }

    /// @dev Constant EIP-712 name and version: saves two storage reads per receipt (see FTNSToken).
    function _EIP712Name() internal pure override returns (string memory) {
        return "PRSM Marketplace";
    }

    function _EIP712Version() internal pure override returns (string memory) {
        return "1";
    }

    function _authorizeUpgrade(address) internal override onlyRole(UPGRADER_ROLE) {}
}
