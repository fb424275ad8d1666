// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title PropertyDirectory
/// @notice The platform's on-chain index: the shared contracts, and for each property (by deed token
/// id) the addresses of its share token, compliance rules, treasury, distributor and offerings.
/// Indexers follow this contract's events to discover every property without configuration.
contract PropertyDirectory is AccessControl {
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

    constructor(address identityRegistry_, address deed_, address settlementToken_, address admin) {
        if (identityRegistry_ == address(0) || deed_ == address(0) || settlementToken_ == address(0)) {
            revert ZeroAddress();
        }
        identityRegistry = identityRegistry_;
        deed = deed_;
        settlementToken = settlementToken_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    /// @notice Registers a property's contracts.
    function registerProperty(
        uint256 propertyId,
        address shares,
        address compliance,
        address treasury,
        address distributor
    ) external onlyRole(REGISTRAR_ROLE) {
        if (shares == address(0) || compliance == address(0) || treasury == address(0) || distributor == address(0)) {
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
