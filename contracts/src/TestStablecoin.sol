// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title TestStablecoin
/// @notice A mintable USD stablecoin with 6 decimals for development chains, standing in for the
/// settlement token (USDC or similar) of a production deployment. It is a plain OpenZeppelin ERC-20,
/// which also makes it the baseline for gas comparisons.
contract TestStablecoin is ERC20, ERC20Permit, AccessControl {
    /// @notice Role that may mint.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    constructor(address admin) ERC20("Test USD", "tUSD") ERC20Permit("Test USD") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Mints test dollars.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
