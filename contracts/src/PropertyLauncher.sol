// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IdentityRegistry} from "./IdentityRegistry.sol";
import {PropertyDeed} from "./PropertyDeed.sol";
import {PropertyDirectory} from "./PropertyDirectory.sol";
import {ShareCompliance} from "./ShareCompliance.sol";
import {PropertyShares} from "./PropertyShares.sol";
import {ShareOffering} from "./ShareOffering.sol";
import {PropertyTreasury} from "./PropertyTreasury.sol";
import {Distributor} from "./Distributor.sol";
import {SharesFactory, OfferingFactory, TreasuryFactory} from "./PropertyFactories.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @title PropertyLauncher
/// @notice Tokenizes a property in one transaction: `launch` mints the property's deed, creates its
/// compliance rules, share token, distributor, treasury and first offering, wires them, registers
/// them in the directory and emits `PropertyLaunched` naming all of it. Either everything happens or
/// nothing does, so a crash of whoever sends the transaction can never leave an orphan deed or a
/// half-wired property behind.
///
/// The property id is chosen by the caller and becomes the deed's token id; the deed mints an id at
/// most once (`PropertyDeed.DeedExists`) and the directory registers it at most once, so the same
/// launch sent twice (a retry, a replayed request) fails the second time and changes nothing.
///
/// Only the platform admin (this contract's default admin) launches, and every contract it creates
/// is administered by that account (moved in two delayed steps, as everywhere), exactly as if the
/// admin had deployed them: the launcher holds no role on any of them. It needs the registrar role
/// of the deed and of the directory. Contracts that must grant a role to one created after them (the
/// share token's minter is the offering, its checkpointer the distributor; the treasury's offering;
/// the distributor's funder is the treasury) name it by its future address, which the factories
/// know in advance (`ContractFactory.nextAddress`); each created address is checked against it.
contract PropertyLauncher is AccessControlDefaultAdminRules, ReentrancyGuardTransient {
    /// @notice What identifies the property and its share token.
    struct PropertyArgs {
        uint256 propertyId; // the deed's token id; not zero, not minted before
        address custodian; // who receives the deed
        bytes32 parcelId; // the parcel id (APN) recorded in the deed
        bytes32 metadataHash; // keccak256 of the metadata document; not zero
        string metadataUri; // where the metadata document is served; not empty
        string name; // the share token's name
        string symbol; // the share token's symbol
    }

    /// @notice Who receives the property's operational roles (the admin role goes to the caller).
    struct RoleHolders {
        address agent; // the share token's transfer agent
        address treasurer; // the treasury's treasurer and the offering's operator
        address rulesAdmin; // sets the compliance rules
    }

    /// @notice The contracts a launch created.
    struct Launched {
        ShareCompliance compliance;
        PropertyShares shares;
        Distributor distributor;
        PropertyTreasury treasury;
        ShareOffering offering;
    }

    /// @notice The shared deed collection (this launcher holds its registrar role).
    PropertyDeed public immutable deed;
    /// @notice The directory properties are registered in (this launcher holds its registrar role).
    PropertyDirectory public immutable directory;
    /// @notice The shared identity registry, as the directory records it.
    IdentityRegistry public immutable identityRegistry;
    /// @notice The settlement token, as the directory records it.
    IERC20 public immutable settlementToken;
    /// @notice Creates share tokens.
    SharesFactory public immutable sharesFactory;
    /// @notice Creates compliance rule sets and offerings.
    OfferingFactory public immutable offeringFactory;
    /// @notice Creates distributors and treasuries.
    TreasuryFactory public immutable treasuryFactory;

    /// @notice A property was launched: its deed went to `custodian`, and these are its contracts.
    event PropertyLaunched(
        uint256 indexed propertyId,
        address indexed custodian,
        address shares,
        address compliance,
        address treasury,
        address distributor,
        address offering
    );

    /// @notice An address argument is zero.
    error ZeroAddress();
    /// @notice A factory created a contract somewhere other than where roles were granted to it.
    /// Cannot happen while the factories count their nonces right; checked so a wrong grant can
    /// never stand.
    error UnexpectedAddress(address expected, address created);

    /// @param directory_ The platform's directory; the deed, identity registry and settlement token
    /// are the ones it records.
    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps), the
    /// only account that launches.
    constructor(
        PropertyDirectory directory_,
        SharesFactory sharesFactory_,
        OfferingFactory offeringFactory_,
        TreasuryFactory treasuryFactory_,
        address admin
    ) AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin) {
        if (
            address(directory_) == address(0) || address(sharesFactory_) == address(0)
                || address(offeringFactory_) == address(0) || address(treasuryFactory_) == address(0)
        ) revert ZeroAddress();
        directory = directory_;
        deed = PropertyDeed(directory_.deed());
        identityRegistry = IdentityRegistry(directory_.identityRegistry());
        settlementToken = IERC20(directory_.settlementToken());
        sharesFactory = sharesFactory_;
        offeringFactory = offeringFactory_;
        treasuryFactory = treasuryFactory_;
    }

    /// @notice Launches a property: mints its deed to `p.custodian`, creates and wires its
    /// contracts with the caller as their admin and `roles` in their operational roles, sells
    /// shares on `terms`, and registers the property and the offering in the directory.
    /// Reverts, changing nothing, when the id was minted before (`PropertyDeed.DeedExists`) or is
    /// zero, the metadata is empty (`PropertyDeed.InvalidMetadata`), an address is zero, or the
    /// terms are invalid (`ShareOffering.InvalidTerms`).
    function launch(PropertyArgs calldata p, RoleHolders calldata roles, ShareOffering.Terms calldata terms)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        nonReentrant
        returns (Launched memory made)
    {
        if (
            p.custodian == address(0) || roles.agent == address(0) || roles.treasurer == address(0)
                || roles.rulesAdmin == address(0)
        ) revert ZeroAddress();
        address admin = msg.sender;
        deed.mintDeed(p.propertyId, p.custodian, p.parcelId, p.metadataHash, p.metadataUri);

        made.compliance = offeringFactory.createCompliance(admin, roles.rulesAdmin);
        // Where the contracts created after the share token will be, in the order created below.
        address offering = offeringFactory.nextAddress(0);
        address distributor = treasuryFactory.nextAddress(0);
        address treasury = treasuryFactory.nextAddress(1);

        made.shares = sharesFactory.createShares(
            SharesFactory.SharesArgs({
                name: p.name,
                symbol: p.symbol,
                propertyId: p.propertyId,
                registry: identityRegistry,
                compliance: made.compliance,
                admin: admin,
                agent: roles.agent,
                minter: offering,
                checkpointer: distributor
            })
        );
        made.distributor = treasuryFactory.createDistributor(made.shares, settlementToken, admin, treasury);
        _expect(distributor, address(made.distributor));
        made.treasury = treasuryFactory.createTreasury(
            settlementToken, p.propertyId, made.distributor, admin, roles.treasurer, offering
        );
        _expect(treasury, address(made.treasury));
        made.offering = offeringFactory.createOffering(
            made.shares, settlementToken, made.treasury, terms, admin, roles.treasurer
        );
        _expect(offering, address(made.offering));

        directory.registerProperty(
            p.propertyId, address(made.shares), address(made.compliance), treasury, distributor
        );
        directory.registerOffering(p.propertyId, offering);
        emit PropertyLaunched(
            p.propertyId,
            p.custodian,
            address(made.shares),
            address(made.compliance),
            treasury,
            distributor,
            offering
        );
    }

    function _expect(address expected, address created) private pure {
        if (created != expected) revert UnexpectedAddress(expected, created);
    }
}
