// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IdentityRegistry} from "./IdentityRegistry.sol";
import {ShareCompliance} from "./ShareCompliance.sol";
import {PropertyShares} from "./PropertyShares.sol";
import {ShareOffering} from "./ShareOffering.sol";
import {PropertyTreasury} from "./PropertyTreasury.sol";
import {Distributor} from "./Distributor.sol";

/// @title ContractFactory
/// @notice What the property factories share: they create contracts with plain `CREATE` and count
/// their own account nonce, so the address of a contract they have not created yet is known in
/// advance (`nextAddress`). The `PropertyLauncher` needs that to grant roles to contracts that
/// refer back to the one granting them (the share token's minter is the offering, which is created
/// with the share token's address).
///
/// The factories hold the creation code that would not fit in the launcher itself (EIP-170 limits
/// deployed code to 24,576 bytes; the share token's creation code alone is about 21 KB). Anyone may
/// call them: a contract made here is no different from one deployed directly, and it is the
/// launcher's own checks (`PropertyLauncher.UnexpectedAddress`) that make its wiring safe.
abstract contract ContractFactory {
    /// @notice This factory's account nonce: the next contract it creates gets the `CREATE` address
    /// derived from it. A contract account starts at 1 (EIP-161) and only `CREATE` moves it; a
    /// failed creation reverts the whole call, the increment with it.
    uint256 public nonce = 1;

    /// @notice A nonce at or above 2**64, which no account reaches (EIP-2681).
    error NonceOverflow(uint256 nonce);

    /// @notice The address of the contract this factory will create after `ahead` others.
    function nextAddress(uint256 ahead) external view returns (address) {
        return createAddress(address(this), nonce + ahead);
    }

    /// @notice The address `CREATE` gives the contract that `deployer` creates at account nonce `n`:
    /// the last 20 bytes of keccak256(rlp([deployer, n])). Nonces are below 2**64 (EIP-2681).
    function createAddress(address deployer, uint256 n) public pure returns (address) {
        bytes memory rlp;
        if (n == 0) {
            rlp = abi.encodePacked(bytes1(0xd6), bytes1(0x94), deployer, bytes1(0x80));
        } else if (n < 0x80) {
            rlp = abi.encodePacked(bytes1(0xd6), bytes1(0x94), deployer, uint8(n));
        } else {
            if (n > type(uint64).max) revert NonceOverflow(n);
            uint256 len;
            for (uint256 v = n; v != 0; v >>= 8) {
                len++;
            }
            bytes memory be = new bytes(len);
            for (uint256 i = 0; i < len; i++) {
                be[i] = bytes1(uint8(n >> (8 * (len - 1 - i))));
            }
            // A list of 22 + len bytes: the 21-byte address item, the length byte, the nonce.
            rlp = abi.encodePacked(
                bytes1(uint8(0xd6 + len)), bytes1(0x94), deployer, bytes1(uint8(0x80 + len)), be
            );
        }
        return address(uint160(uint256(keccak256(rlp))));
    }

    /// @dev Records one creation: the account nonce moved by one.
    function _created() internal {
        nonce++;
    }
}

/// @title SharesFactory
/// @notice Creates `PropertyShares` tokens for the `PropertyLauncher`.
contract SharesFactory is ContractFactory {
    /// @notice The share token's constructor arguments (see `PropertyShares`).
    struct SharesArgs {
        string name;
        string symbol;
        uint256 propertyId;
        IdentityRegistry registry;
        ShareCompliance compliance;
        address admin;
        address agent;
        address minter;
        address checkpointer;
    }

    /// @notice Creates a share token with these constructor arguments.
    function createShares(SharesArgs calldata a) external returns (PropertyShares s) {
        s = new PropertyShares(
            a.name,
            a.symbol,
            a.propertyId,
            a.registry,
            a.compliance,
            a.admin,
            a.agent,
            a.minter,
            a.checkpointer
        );
        _created();
    }
}

/// @title ComplianceFactory
/// @notice Creates `ShareCompliance` rule sets. The `OfferingFactory` creates one in its
/// constructor and forwards to it: the rules' code does not fit in the offering factory's own.
contract ComplianceFactory is ContractFactory {
    /// @notice Creates a compliance rule set (see `ShareCompliance`).
    function createCompliance(address admin, address rulesAdmin) external returns (ShareCompliance c) {
        c = new ShareCompliance(admin, rulesAdmin);
        _created();
    }
}

/// @title OfferingFactory
/// @notice Creates `ShareCompliance` rule sets (through its `ComplianceFactory`) and
/// `ShareOffering`s for the `PropertyLauncher`.
contract OfferingFactory is ContractFactory {
    /// @notice Where the compliance rule sets are created (this factory's first creation).
    ComplianceFactory public immutable complianceFactory;

    constructor() {
        complianceFactory = new ComplianceFactory();
        _created();
    }

    /// @notice Creates a compliance rule set (see `ShareCompliance`).
    function createCompliance(address admin, address rulesAdmin) external returns (ShareCompliance c) {
        c = complianceFactory.createCompliance(admin, rulesAdmin);
    }

    /// @notice Creates a share offering (see `ShareOffering`).
    function createOffering(
        PropertyShares shares,
        IERC20 settlementToken,
        PropertyTreasury treasury,
        ShareOffering.Terms calldata terms,
        address admin,
        address operator
    ) external returns (ShareOffering o) {
        o = new ShareOffering(shares, settlementToken, treasury, terms, admin, operator);
        _created();
    }
}

/// @title TreasuryFactory
/// @notice Creates `Distributor`s and `PropertyTreasury`s for the `PropertyLauncher`.
contract TreasuryFactory is ContractFactory {
    /// @notice Creates a distributor (see `Distributor`).
    function createDistributor(PropertyShares shares, IERC20 payoutToken, address admin, address funder)
        external
        returns (Distributor d)
    {
        d = new Distributor(shares, payoutToken, admin, funder);
        _created();
    }

    /// @notice Creates a treasury (see `PropertyTreasury`).
    function createTreasury(
        IERC20 settlementToken,
        uint256 propertyId,
        Distributor distributor,
        address admin,
        address treasurer,
        address offering
    ) external returns (PropertyTreasury t) {
        t = new PropertyTreasury(settlementToken, propertyId, distributor, admin, treasurer, offering);
        _created();
    }
}
