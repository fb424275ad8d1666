// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @title IdentityRegistry
/// @notice Maps wallets to investor records shared by every property's share token. One investor
/// (a person or entity, keyed by an off-chain `investorId`) may own several wallets; investor caps
/// are counted per investor, never per wallet. Each investor also gets a compact on-chain number
/// (`investorNo`, starting at 1) that tokens use for their per-investor accounting.
contract IdentityRegistry is AccessControlDefaultAdminRules {
    /// @notice Role that registers investors and wallets (the compliance agent).
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice An investor record. Packed into one storage slot.
    struct Investor {
        uint64 no; // 0 = no such investor
        uint16 country; // ISO-3166-1 numeric
        bool accredited;
        bool frozen;
        uint64 kycExpiry; // unix seconds; verified while block.timestamp < kycExpiry
    }

    /// @notice What a token needs to know about one wallet, read in a single call.
    struct WalletStatus {
        uint64 investorNo; // 0 = wallet not registered
        uint16 country;
        bool accredited;
        bool frozen;
        bool verified; // registered and KYC not expired
    }

    /// @notice One investor to register in a batch: its record and, unless zero, a wallet of its.
    struct Registration {
        bytes32 investorId;
        uint16 country;
        bool accredited;
        uint64 kycExpiry;
        address wallet;
    }

    /// @notice Most items one batch may hold: a full batch of new investors with wallets costs
    /// about 15 million gas, under the 16,777,216 one transaction may use (EIP-7825).
    uint256 public constant MAX_BATCH = 200;
    /// @notice A batch item's outcome: done (or already so).
    uint8 public constant DONE = 0;
    /// @notice A batch item's outcome: the investor id is zero or the country invalid.
    uint8 public constant INVALID_INVESTOR = 1;
    /// @notice A batch item's outcome: the wallet belongs to another investor.
    uint8 public constant WALLET_TAKEN = 2;
    /// @notice A batch item's outcome: no such investor.
    uint8 public constant UNKNOWN = 3;

    mapping(bytes32 investorId => Investor) private _investors;
    mapping(uint64 investorNo => bytes32) private _investorIds;
    mapping(address wallet => bytes32) private _walletInvestor;
    uint64 private _investorCount;

    /// @notice An investor was created or its record changed.
    event InvestorUpdated(
        bytes32 indexed investorId,
        uint64 indexed investorNo,
        uint16 country,
        bool accredited,
        uint64 kycExpiry
    );
    /// @notice An investor was frozen or unfrozen across every token using this registry.
    event InvestorFrozen(bytes32 indexed investorId, bool frozen);
    /// @notice A wallet was linked to an investor.
    event WalletAdded(address indexed wallet, bytes32 indexed investorId);
    /// @notice A wallet was unlinked from an investor.
    event WalletRemoved(address indexed wallet, bytes32 indexed investorId);

    /// @notice A batch is empty or holds more than `MAX_BATCH` items.
    error BadBatch(uint256 size);
    /// @notice The investor id is zero or the country code is not a valid ISO-3166-1 numeric code.
    error InvalidInvestor(bytes32 investorId);
    /// @notice No investor with this id exists.
    error UnknownInvestor(bytes32 investorId);
    /// @notice The wallet is the zero address.
    error InvalidWallet(address wallet);
    /// @notice The wallet already belongs to an investor.
    error WalletAlreadyRegistered(address wallet, bytes32 investorId);
    /// @notice The wallet is not registered.
    error WalletNotRegistered(address wallet);

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps).
    /// @param registrar Who registers investors and their wallets.
    constructor(address admin, address registrar)
        AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin)
    {
        _grantRole(REGISTRAR_ROLE, registrar);
    }

    /// @notice Creates an investor or updates its country, accreditation and KYC expiry.
    function setInvestor(bytes32 investorId, uint16 country, bool accredited, uint64 kycExpiry)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (uint64 investorNo)
    {
        if (investorId == bytes32(0) || country == 0 || country > 999) {
            revert InvalidInvestor(investorId);
        }
        investorNo = _setInvestor(investorId, country, accredited, kycExpiry);
    }

    /// @notice Registers or updates many investors, each with a wallet (unless zero), in one
    /// transaction. An item that cannot be done is skipped, never the batch: `outcomes` has one
    /// code per item (`DONE`, `INVALID_INVESTOR`, `WALLET_TAKEN`). Repeating a batch changes
    /// nothing more: a wallet already the investor's is `DONE`.
    function registerInvestors(Registration[] calldata items)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (uint8[] memory outcomes)
    {
        uint256 n = items.length;
        if (n == 0 || n > MAX_BATCH) revert BadBatch(n);
        outcomes = new uint8[](n);
        for (uint256 i = 0; i < n; i++) {
            Registration calldata r = items[i];
            if (r.investorId == bytes32(0) || r.country == 0 || r.country > 999) {
                outcomes[i] = INVALID_INVESTOR;
                continue;
            }
            bytes32 current = r.wallet == address(0) ? bytes32(0) : _walletInvestor[r.wallet];
            if (current != bytes32(0) && current != r.investorId) {
                outcomes[i] = WALLET_TAKEN;
                continue;
            }
            _setInvestor(r.investorId, r.country, r.accredited, r.kycExpiry);
            if (r.wallet != address(0) && current == bytes32(0)) {
                _walletInvestor[r.wallet] = r.investorId;
                emit WalletAdded(r.wallet, r.investorId);
            }
        }
    }

    /// @notice Freezes or unfreezes many investors; `outcomes` has one code per item (`DONE` or
    /// `UNKNOWN`).
    function setInvestorsFrozen(bytes32[] calldata investorIds, bool frozen)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (uint8[] memory outcomes)
    {
        uint256 n = investorIds.length;
        if (n == 0 || n > MAX_BATCH) revert BadBatch(n);
        outcomes = new uint8[](n);
        for (uint256 i = 0; i < n; i++) {
            Investor storage inv = _investors[investorIds[i]];
            if (inv.no == 0) {
                outcomes[i] = UNKNOWN;
                continue;
            }
            inv.frozen = frozen;
            emit InvestorFrozen(investorIds[i], frozen);
        }
    }

    function _setInvestor(bytes32 investorId, uint16 country, bool accredited, uint64 kycExpiry)
        private
        returns (uint64 investorNo)
    {
        Investor storage inv = _investors[investorId];
        investorNo = inv.no;
        if (investorNo == 0) {
            investorNo = ++_investorCount;
            inv.no = investorNo;
            _investorIds[investorNo] = investorId;
        }
        inv.country = country;
        inv.accredited = accredited;
        inv.kycExpiry = kycExpiry;
        emit InvestorUpdated(investorId, investorNo, country, accredited, kycExpiry);
    }

    /// @notice Freezes or unfreezes an investor: no wallet of theirs can send or receive shares.
    function setInvestorFrozen(bytes32 investorId, bool frozen) external onlyRole(REGISTRAR_ROLE) {
        Investor storage inv = _investors[investorId];
        if (inv.no == 0) revert UnknownInvestor(investorId);
        inv.frozen = frozen;
        emit InvestorFrozen(investorId, frozen);
    }

    /// @notice Links a wallet to an existing investor.
    function addWallet(address wallet, bytes32 investorId) external onlyRole(REGISTRAR_ROLE) {
        if (wallet == address(0)) revert InvalidWallet(wallet);
        if (_investors[investorId].no == 0) revert UnknownInvestor(investorId);
        bytes32 current = _walletInvestor[wallet];
        if (current != bytes32(0)) revert WalletAlreadyRegistered(wallet, current);
        _walletInvestor[wallet] = investorId;
        emit WalletAdded(wallet, investorId);
    }

    /// @notice Unlinks a wallet. Shares it still holds stay attributed to the same investor by each
    /// token, but the wallet can no longer receive shares.
    function removeWallet(address wallet) external onlyRole(REGISTRAR_ROLE) {
        bytes32 current = _walletInvestor[wallet];
        if (current == bytes32(0)) revert WalletNotRegistered(wallet);
        delete _walletInvestor[wallet];
        emit WalletRemoved(wallet, current);
    }

    /// @notice The investor id a wallet belongs to, or zero.
    function investorOf(address wallet) external view returns (bytes32) {
        return _walletInvestor[wallet];
    }

    /// @notice The investor id for an on-chain investor number, or zero.
    function investorIdOf(uint64 investorNo) external view returns (bytes32) {
        return _investorIds[investorNo];
    }

    /// @notice The full record of an investor.
    function investor(bytes32 investorId) external view returns (Investor memory) {
        return _investors[investorId];
    }

    /// @notice Number of investors ever created.
    function investorCount() external view returns (uint64) {
        return _investorCount;
    }

    /// @notice True when the wallet is registered and its investor's KYC has not expired.
    function isVerified(address wallet) external view returns (bool) {
        return _status(wallet).verified;
    }

    /// @notice Status of one wallet.
    function walletStatus(address wallet) external view returns (WalletStatus memory) {
        return _status(wallet);
    }

    /// @notice What a transfer needs from the registry, in one call: whether the sender is frozen
    /// (the investor the token attributes the shares to, or the investor the sending wallet belongs
    /// to now, which differ after the wallet was reassigned), and the recipient's status.
    function transferStatus(uint64 senderNo, address from, address to)
        external
        view
        returns (bool senderFrozen, WalletStatus memory recipient)
    {
        bytes32 senderId = _investorIds[senderNo];
        if (senderId != bytes32(0)) senderFrozen = _investors[senderId].frozen;
        bytes32 ownerId = _walletInvestor[from];
        if (!senderFrozen && ownerId != bytes32(0) && ownerId != senderId) {
            senderFrozen = _investors[ownerId].frozen;
        }
        recipient = _status(to);
    }

    /// @notice Whether an investor (by number) is frozen; false for unknown numbers.
    function isInvestorFrozen(uint64 investorNo) external view returns (bool) {
        return _investors[_investorIds[investorNo]].frozen;
    }

    function _status(address wallet) private view returns (WalletStatus memory s) {
        bytes32 id = _walletInvestor[wallet];
        if (id == bytes32(0)) return s;
        Investor memory inv = _investors[id];
        s.investorNo = inv.no;
        s.country = inv.country;
        s.accredited = inv.accredited;
        s.frozen = inv.frozen;
        s.verified = block.timestamp < inv.kycExpiry;
    }
}
