// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// How long a proposed platform admin must wait before accepting the role. Every contract's admin
// role moves in two steps (OpenZeppelin's `AccessControlDefaultAdminRules`): the current admin
// proposes, the new admin accepts after this delay, and the admin can cancel in between.
uint48 constant ADMIN_TRANSFER_DELAY = 2 days;
