// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @title PropertyDirectory
/// @notice The platform's on-chain index: the shared contracts, and for each property (by deed token
/// id) the addresses of its share token, compliance rules, treasury, distributor and offerings.
/// Indexers follow this contract's events to discover every property without configuration.
/// `checkSettlementToken` lets a deployer refuse a settlement token that delivers less than it is
/// asked to move (a fee-on-transfer token), which the treasury's books could not follow.
contract PropertyDirectory is AccessControlDefaultAdminRules {
    using SafeERC20 for IERC20;

    /// @notice Role that registers properties and offerings (the platform deployer).
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice The contracts of one property.
    struct Property {
        address shares;
        address compliance;
        address treasury;
        address distributor;
        address[] offerings;
    }

    /// @notice Shared identity registry.
    address public immutable identityRegistry;
    /// @notice Shared deed collection.
    address public immutable deed;
    /// @notice Settlement token (USD stablecoin).
    address public immutable settlementToken;

    mapping(uint256 propertyId => Property) private _properties;
    uint256[] private _propertyIds;

    /// @notice A property's contracts were registered.
    event PropertyRegistered(
        uint256 indexed propertyId, address shares, address compliance, address treasury, address distributor
    );
    /// @notice An offering of a property's shares was registered.
    event OfferingRegistered(uint256 indexed propertyId, address indexed offering);

    /// @notice The property is already registered.
    error PropertyExists(uint256 propertyId);
    /// @notice The property is not registered.
    error UnknownProperty(uint256 propertyId);
    /// @notice An address is zero.
    error ZeroAddress();
    /// @notice The settlement token moved a different amount than asked (a fee-on-transfer token).
    error InexactTransfer(uint256 expected, uint256 received);

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps), who
    /// also registers properties and offerings.
    constructor(address identityRegistry_, address deed_, address settlementToken_, address admin)
        AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin)
    {
        if (identityRegistry_ == address(0) || deed_ == address(0) || settlementToken_ == address(0)) {
            revert ZeroAddress();
        }
        identityRegistry = identityRegistry_;
        deed = deed_;
        settlementToken = settlementToken_;
        _grantRole(REGISTRAR_ROLE, admin);
    }

    /// @notice Checks that the settlement token moves exact amounts: pulls `amount` from the caller
    /// (who approved it) and sends it straight back, measuring what arrives on each side. Reverts with
    /// `InexactTransfer` when either side receives a different amount; leaves no funds here.
    function checkSettlementToken(uint256 amount) external {
        IERC20 token = IERC20(settlementToken);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert InexactTransfer(amount, received);
        before = token.balanceOf(msg.sender);
        token.safeTransfer(msg.sender, amount);
        received = token.balanceOf(msg.sender) - before;
        if (received != amount) revert InexactTransfer(amount, received);
    }

    /// @notice Registers a property's contracts.
    function registerProperty(
        uint256 propertyId,
        address shares,
        address compliance,
        address treasury,
        address distributor
    ) external onlyRole(REGISTRAR_ROLE) {
        if (
            shares == address(0) || compliance == address(0) || treasury == address(0)
                || distributor == address(0)
        ) {
            revert ZeroAddress();
        }
        Property storage p = _properties[propertyId];
        if (p.shares != address(0)) revert PropertyExists(propertyId);
        p.shares = shares;
        p.compliance = compliance;
        p.treasury = treasury;
        p.distributor = distributor;
        _propertyIds.push(propertyId);
        emit PropertyRegistered(propertyId, shares, compliance, treasury, distributor);
    }

    /// @notice Registers an offering of a property's shares.
    function registerOffering(uint256 propertyId, address offering) external onlyRole(REGISTRAR_ROLE) {
        if (offering == address(0)) revert ZeroAddress();
        Property storage p = _properties[propertyId];
        if (p.shares == address(0)) revert UnknownProperty(propertyId);
        p.offerings.push(offering);
        emit OfferingRegistered(propertyId, offering);
    }

    /// @notice A property's contracts.
    function property(uint256 propertyId) external view returns (Property memory) {
        Property memory p = _properties[propertyId];
        if (p.shares == address(0)) revert UnknownProperty(propertyId);
        return p;
    }

    /// @notice All registered property ids, in registration order.
    function propertyIds() external view returns (uint256[] memory) {
        return _propertyIds;
    }
}
